"""The command line under bad input: one clear line, exit 2, nothing written, no wasted work.

Each test is one case a practitioner met. Where the check must come before the model's weights
load, loading them fails the test (:func:`no_weights`).
"""

import csv
import json

import pytest
import torch

import revs
import revs.model
from revs.cli import main
from revs.data.records import Record, load_records
from revs.patch import Patch, load_patch, model_fingerprint, target_hashes

FACT = ("The capital of France is", "Paris")
MADE_UP = ("Her private recovery phrase is", "zq-77-xkq-owl")


@pytest.fixture
def no_weights(monkeypatch):
    """Loading a model's weights fails the test: every check must come before it."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model's weights were loaded before the input was checked")

    monkeypatch.setattr(revs.model, "load_model", refuse)


def _targets(tmp_path, rows, name="targets.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["prompt", "secret"], *rows])
    return path


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("revs: error:")]
    assert len(lines) == 1, captured.err
    return lines[0]


def _listing(path):
    return sorted(p.name for p in path.iterdir())


# --- 1. no false success, no lost work ---------------------------------------------------------


def test_apply_into_an_existing_file_is_refused_and_the_file_kept(tmp_path, capsys, no_weights):
    target = tmp_path / "afile"
    target.write_text("x\n")
    message = _error(capsys, ["apply", "--patch", str(tmp_path / "p.safetensors"),
                              "--out", str(target)])
    assert "is a file: give a folder" in message
    assert target.read_text() == "x\n"


def test_unlearn_save_model_into_a_file_is_refused_before_any_edit(tmp_path, capsys, no_weights):
    target = tmp_path / "afile"
    target.write_text("x\n")
    message = _error(capsys, ["unlearn", "--targets", str(_targets(tmp_path, [FACT])),
                              "--save-model", str(target)])
    assert "is a file: give a folder" in message and target.read_text() == "x\n"


# --- 2. the model's context --------------------------------------------------------------------


def test_a_prompt_longer_than_the_context_is_refused_before_loading(tmp_path, capsys, no_weights):
    prompt = "one two three four " * 2300 + "The code is"
    message = _error(capsys, ["unlearn", "--targets", str(_targets(tmp_path, [(prompt, "1234")])),
                              "--out", str(tmp_path / "p.safetensors")])
    assert "targets.csv, row 1: prompt and secret are" in message
    assert "more than the model reads (8192)" in message
    assert _listing(tmp_path) == ["targets.csv"]


# --- 3. output paths checked before the work ---------------------------------------------------


@pytest.mark.parametrize("out, message", [
    ("patchdir", "is a folder: give a file name"),
    ("afile/p.safetensors", "is a file, not a folder"),
    ("/proc/revs-test/p.safetensors", "is not writable"),
])
def test_an_unusable_patch_path_is_refused_before_any_work(tmp_path, capsys, no_weights, out,
                                                           message):
    (tmp_path / "patchdir").mkdir()
    (tmp_path / "afile").write_text("x\n")
    path = out if out.startswith("/") else str(tmp_path / out)
    assert message in _error(capsys, ["unlearn", "--targets",
                                      str(_targets(tmp_path, [FACT])), "--out", path])
    assert _listing(tmp_path) == ["afile", "patchdir", "targets.csv"]
    assert _listing(tmp_path / "patchdir") == []


def test_a_testbed_run_checks_its_patch_path_first(tmp_path, capsys, monkeypatch):
    import revs.experiments.runner as runner

    monkeypatch.setattr(runner, "unlearn_testbed", lambda *a, **k: pytest.fail("ran the testbed"))
    (tmp_path / "patchdir").mkdir()
    message = _error(capsys, ["unlearn", "--dataset", "ssn", "--out", str(tmp_path / "patchdir")])
    assert "is a folder" in message


@pytest.mark.parametrize("command", ["unlearn", "evaluate"])
@pytest.mark.parametrize("forget", ["0", "40", "-3"])
def test_forgetting_none_or_every_subject_is_refused_before_any_run(
        capsys, monkeypatch, command, forget):
    import revs.experiments.runner as runner

    for name in ("unlearn_testbed", "evaluate"):
        monkeypatch.setattr(runner, name, lambda *a, **k: pytest.fail("ran the testbed"))
    message = _error(capsys, [command, "--dataset", "emails", "--forget", forget])
    assert "--forget must be between 1 and 39 for 40 subjects" in message


def test_a_testbed_run_forgets_as_many_subjects_as_asked(capsys, monkeypatch):
    import revs.experiments.runner as runner

    class Asked(Exception):
        pass

    def stop_with_the_settings(*args, settings, **kwargs):
        raise Asked(settings)

    monkeypatch.setattr(runner, "unlearn_testbed", stop_with_the_settings)
    with pytest.raises(Asked) as asked:
        main(["unlearn", "--dataset", "emails", "--forget", "10", "--subjects", "30"])
    settings = asked.value.args[0]
    assert (settings.n_forget, settings.n_subjects) == (10, 30)


# --- 4. ordinary mistakes: a message, not a traceback ------------------------------------------


@pytest.mark.parametrize("name, text, message", [
    ("t.csv", "prompt,secret\nMy code is\n", "t.csv, row 1: the secret is missing"),
    ("t.jsonl", '{"prompt": "My code is", "secret": null}\n', "t.jsonl, line 1: the secret is "
     "missing"),
    ("t.jsonl", '{"prompt": "My code is", "secret": 1234}\n', "t.jsonl, line 1: 'secret' must "
     "be text, got 1234"),
    ("t.jsonl", '{"prompt": "a", "secret": "b"}\n["My code is", "1234"]\n',
     "t.jsonl, line 2: expected an object with prompt and secret, got list"),
    ("t.jsonl", '{"prompt": "a", "secret": "b"}\n\n{"prompt": "a",\n',
     "t.jsonl, line 3: not valid JSON"),
    ("t.csv", "prompt,secret\nMy code is,12,34\n", "t.csv, row 1: more fields than the header"),
])
def test_a_bad_targets_file_names_its_file_and_row(tmp_path, capsys, no_weights, name, text,
                                                   message):
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert message in _error(capsys, ["unlearn", "--targets", str(tmp_path / name),
                                      "--out", str(tmp_path / "p.safetensors")])


@pytest.mark.parametrize("setting, message", [
    ("neuron_band=5", "neuron_band must be a (low, high) pair of integers"),
    ("n_neurons=abc", "n_neurons must be an integer, got 'abc'"),
    ("layers=[99]", "layers [99] are not in this model: its layers are 0 to 29"),
    ("max_tokens=-1", "max_tokens must be None, 0 (every token) or more"),
])
def test_a_bad_setting_is_refused_before_loading(tmp_path, capsys, no_weights, setting, message):
    assert message in _error(capsys, ["unlearn", "--targets", str(_targets(tmp_path, [FACT])),
                                      "--out", str(tmp_path / "p.safetensors"), "--set", setting])


def test_evaluate_checks_layers_against_the_model(capsys, no_weights):
    assert "not in this model" in _error(capsys, ["evaluate", "--dataset", "ssn", "--set",
                                                  "layers=[30]"])


@pytest.mark.parametrize("files, message", [
    ({"config.json": "{not json"}, "config.json' is not valid JSON"),
    ({"config.json": "{}"}, "has no weights"),
])
def test_a_broken_model_folder_is_a_clean_error(tmp_path, capsys, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert message in _error(capsys, ["info", "--model", str(tmp_path)])


def test_patch_metadata_that_is_a_list_is_not_a_patch(tmp_path, capsys, no_weights):
    from safetensors.torch import save_file

    path = tmp_path / "p.safetensors"
    save_file({"0.neurons": torch.zeros(1, dtype=torch.long)}, str(path),
              metadata={"revs": "[1, 2]"})
    message = _error(capsys, ["apply", "--patch", str(path), "--out", str(tmp_path / "out")])
    assert "p.safetensors is not a readable revs patch" in message
    assert not (tmp_path / "out").exists()


def test_a_rule_that_leaves_nothing_names_the_row_before_any_weights(tmp_path, capsys,
                                                                     no_weights):
    path = tmp_path / "mail.csv"
    path.write_text("prompt,secret,rule\nMail Ann at,ann.k@fen.test,email\n"
                    "Mail the desk at,@fen.test,email\n")
    for command in (["unlearn", "--targets", str(path), "--out", str(tmp_path / "p")],
                    ["check", "--targets", str(path)]):
        message = _error(capsys, command)
        assert "mail.csv, row 2: the 'email' rule finds nothing to unlearn" in message
    assert _listing(tmp_path) == ["mail.csv"]


def test_a_token_picked_for_most_secrets_is_warned_about_before_any_weights(tmp_path, capsys,
                                                                           no_weights):
    rows = [(f"Code {i}:", f"9{i}-9{i}") for i in range(3)]  # "9" is picked for all three
    with pytest.raises(AssertionError, match="weights were loaded"):
        main(["unlearn", "--targets", str(_targets(tmp_path, rows)), "--out",
              str(tmp_path / "p.safetensors"), "--set", "max_tokens=1"])
    err = capsys.readouterr().err
    assert "revs: warning: the token '9' is picked for the secrets of 3 of the 3 subjects" in err


# --- 5. secrets the model does not write are not edited unless asked ---------------------------


@pytest.mark.integration
def test_a_secret_the_model_does_not_write_is_not_edited(tmp_path, capsys):
    patch = tmp_path / "p.safetensors"
    assert main(["unlearn", "--targets", str(_targets(tmp_path, [MADE_UP])),
                 "--out", str(patch)]) == 2
    err = capsys.readouterr().err
    assert "targets.csv, row 1: the model does not write this secret" in err
    assert "not edited (--force edits it anyway)" in err and "nothing to unlearn" in err
    assert not patch.exists() and "Traceback" not in err


@pytest.mark.integration
def test_the_summary_counts_only_what_was_unlearned(tmp_path, capsys):
    patch = tmp_path / "p.safetensors"
    assert main(["unlearn", "--targets", str(_targets(tmp_path, [MADE_UP, FACT])),
                 "--out", str(patch), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["targets"] == 2 and summary["unlearned"] == 1
    assert summary["not_produced"] == ["targets.csv, row 1"]
    assert {token["row"] for token in summary["tokens"]} == {"targets.csv, row 2"}
    assert "row 1: the model does not write this secret" in captured.err
    assert len(load_patch(patch)) > 0


def test_the_nothing_to_unlearn_warning_points_at_the_caller(byte_tokenizer):
    from conftest import build_tiny_model

    config = revs.REVSConfig(residual_band=(0, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                             n_neurons=8, act_filter=16, initial_neurons=2)
    with pytest.warns(UserWarning, match="nothing to unlearn") as caught:
        revs.unlearn(build_tiny_model("llama"), byte_tokenizer,
                     [Record("a", "ssn", "The number of Ann is", " 915-11-1364")], config,
                     progress=False)
    assert caught[0].filename == __file__


# --- 6. messages that say what is wrong ---------------------------------------------------------


def test_a_spreadsheet_csv_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffprompt,secret\r\nMy code is,1234\r\n".encode())
    (record,) = load_records(path)
    assert (record.prompt, record.target) == ("My code is", " 1234")


@pytest.mark.parametrize("name, text", [
    ("t.json", '[{"prompt": "My code is", "secret": "1234"}]'),
    ("t.json", '{"prompt": "My code is", "secret": "1234"}\n'),
    ("t.JSONL", '{"prompt": "My code is", "secret": "1234"}\n'),
    ("t.txt", '{"prompt": "My code is", "secret": "1234"}\n'),
])
def test_json_files_are_read_by_extension_and_content(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    (record,) = load_records(tmp_path / name)
    assert record.target == " 1234"


def test_a_file_that_is_not_utf8_names_file_and_line(tmp_path, capsys, no_weights):
    path = tmp_path / "t.csv"
    path.write_bytes("prompt,secret\nMa clé est,1234\n".encode("latin-1"))
    message = _error(capsys, ["unlearn", "--targets", str(path), "--out",
                              str(tmp_path / "p.safetensors")])
    assert "t.csv, line 2: not UTF-8 text (byte 0xe9); save the file as UTF-8" in message


def test_rows_are_one_based_everywhere(tmp_path, capsys, no_weights):
    path = _targets(tmp_path, [FACT, FACT])
    message = _error(capsys, ["unlearn", "--targets", str(path), "--out",
                              str(tmp_path / "p.safetensors")])
    assert "targets.csv, row 1 and targets.csv, row 2 are the same prompt and secret" in message


def test_max_tokens_zero_means_every_token_as_documented(byte_tokenizer):
    import inspect

    from revs.targets import tokens_for

    source = inspect.getsource(revs.REVSConfig)
    assert "``None`` (or 0" in source[source.index("    max_tokens:"):][:200]
    record = Record("a", "ssn", "The number of Ann is", " 915-11-1364")
    every = tokens_for(byte_tokenizer, record, revs.REVSConfig(max_tokens=None))
    assert tokens_for(byte_tokenizer, record, revs.REVSConfig(max_tokens=0)) == every


# --- 7 and 8. a model folder is replaced whole, only when asked; revert ------------------------


@pytest.fixture(scope="module")
def empty_patch(tmp_path_factory, embedded):
    model, _ = embedded
    path = tmp_path_factory.mktemp("patch") / "empty.safetensors"
    Patch(edits=[], config=revs.REVSConfig(), fingerprint=model_fingerprint(model),
          targets=target_hashes([])).save(path)
    return path


@pytest.mark.integration
def test_apply_into_a_model_folder_needs_force_and_replaces_it_whole(tmp_path, capsys,
                                                                      empty_patch):
    out = tmp_path / "edited"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "model-00002-of-00002.safetensors").write_text("stale")
    assert "holds a model: choose a new folder, or pass --force" in _error(
        capsys, ["apply", "--patch", str(empty_patch), "--out", str(out)])
    assert main(["apply", "--patch", str(empty_patch), "--out", str(out), "--force"]) == 0
    assert "model-00002-of-00002.safetensors" not in _listing(out)
    assert "model.safetensors" in _listing(out)
    assert [p.name for p in tmp_path.iterdir()] == ["edited"]  # no staging folder left


def test_the_patch_checksum_covers_its_metadata(tmp_path):
    from conftest import build_tiny_model
    from safetensors import safe_open
    from safetensors.torch import save_file

    model = build_tiny_model("llama")
    path = tmp_path / "p.safetensors"
    Patch(edits=[], config=revs.REVSConfig(), fingerprint=model_fingerprint(model),
          targets=target_hashes([])).save(path)
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["revs"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    meta["config"]["n_neurons"] = 3
    save_file(tensors, str(path), metadata={"revs": json.dumps(meta)})
    with pytest.raises(ValueError, match="corrupted"):
        load_patch(path)


@pytest.mark.integration
def test_revert_restores_the_model_bit_for_bit(tmp_path, capsys):
    patch, edited, restored = (tmp_path / "p.safetensors", tmp_path / "edited",
                               tmp_path / "restored")
    assert main(["unlearn", "--targets", str(_targets(tmp_path, [FACT])), "--out", str(patch),
                 "--save-model", str(edited), "--json"]) == 0
    assert "revert needs the model the patch was applied to" in _error(
        capsys, ["revert", "--patch", str(patch), "--model", revs.EMBEDDED_MODEL,
                 "--out", str(restored)])
    assert not restored.exists()
    assert main(["revert", "--patch", str(patch), "--model", str(edited),
                 "--out", str(restored)]) == 0
    back, _ = revs.load_model(restored)
    fresh, _ = revs.load_model()
    assert all(torch.equal(a, b) for a, b in
               zip(back.state_dict().values(), fresh.state_dict().values(), strict=True))
