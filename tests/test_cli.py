import json

import pytest

from revs.cli import main


@pytest.mark.integration
def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["model_type"] == "llama"
    assert facts["d_mlp"] == 1536
    assert facts["layout"]["mlp_out"] == "mlp.down_proj"


def test_bad_model_path_is_a_clean_error(capsys, tmp_path):
    assert main(["info", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("revs: error:") and "does not exist" in err


def test_testbed_prints_the_report(capsys, monkeypatch):
    import revs.experiments.testbed

    report = {"dataset": "ssn", "n_records": 20, "seed": 1, "forget_exact": 1.0,
              "generality_exact": 0.95, "retain_exact": 1.0, "ppl_before": 26.4, "ppl_after": 26.9,
              "ppl_increase": 0.0189, "epochs": 7, "training_seconds": 95.0, "seconds": 120.0,
              "checkpoint": "/cache/x"}
    calls = []
    monkeypatch.setattr(revs.experiments.testbed, "testbed_report",
                        lambda dataset, **kw: calls.append((dataset, kw)) or report)
    assert main(["testbed", "--dataset", "ssn", "--subjects", "4", "--seed", "1"]) == 0
    assert calls == [("ssn", {"seed": 1, "n_subjects": 4})]
    out = capsys.readouterr().out
    assert "generality   95.0%" in out and "26.40 -> 26.90 (+1.9%)" in out
    assert main(["testbed", "--dataset", "ssn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report


@pytest.mark.integration
def test_evaluate_json_on_the_memorized_testbed(capsys):
    """The unedited memorizing model: nothing unlearned, every secret extracted."""
    argv = ["evaluate", "--method", "unedited", "--dataset", "ssn", "--seeds", "0", "--smoke",
            "--no-cache", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(set(row) == {"method", "dataset", "seed", "k", "metric", "value"} for row in rows)
    values = {(row["metric"], row["k"]): row["value"] for row in rows}
    for k in (10, 100):
        assert values[("efficacy", k)] == 0.0 and values[("logit_lens_attack", k)] == 0.0
        assert values[("generality", k)] == 0.0 and values[("resistance_score", k)] == 0.0
    assert values[("specificity", None)] == 1.0 and values[("extraction_rate", None)] == 1.0
    assert 10 < values[("perplexity", None)] < 60
    assert 0.2 < values[("next_token_accuracy", None)] < 0.7


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "missing.csv"], "no records file"),
    (["--dataset", "nonsense"], "unknown dataset 'nonsense'"),
    (["--dataset", "ssn", "-k", "0"], "1 <= k"),
    (["--dataset", "ssn", "-k", "600"], "candidate list"),
    (["--dataset", "ssn", "--method", "nope"], "unknown method 'nope'"),
    (["--dataset", "ssn", "--method", "revs", "unedited", "--patch", "p.safetensors"],
     "single --method"),
])
def test_evaluate_bad_input_is_a_clean_error(capsys, argv, message):
    assert main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_file_without_the_columns(capsys, tmp_path):
    path = tmp_path / "secrets.csv"
    path.write_text("prompt,answer\nMy code is,1234\n")
    assert main(["evaluate", "--dataset", str(path)]) == 2
    assert "missing column(s)" in capsys.readouterr().err


@pytest.mark.integration
def test_evaluate_refuses_a_patch_for_another_model(capsys, tmp_path, byte_tokenizer):
    import warnings

    from conftest import build_tiny_model

    from revs.config import REVSConfig
    from revs.data.records import Record
    from revs.unlearn import unlearn

    config = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                        n_neurons=8, act_filter=16, initial_neurons=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = unlearn(build_tiny_model("llama"), byte_tokenizer,
                         [Record("a", "ssn", "The number of Ann is", " 915-11-1364")], config,
                         progress=False)
    result.patch.save(tmp_path / "tiny.safetensors")
    argv = ["evaluate", "--method", "revs", "--dataset", "ssn", "--seeds", "0", "--smoke",
            "--patch", str(tmp_path / "tiny.safetensors")]
    assert main(argv) == 2
    assert "this patch is for another model" in capsys.readouterr().err


def test_evaluate_refuses_a_dataset_too_small_to_split(capsys, tmp_path):
    path = tmp_path / "secrets.csv"
    path.write_text("prompt,secret\nMy code is,1234\n")
    assert main(["evaluate", "--method", "unedited", "--dataset", str(path)]) == 2
    assert "at least two subjects" in capsys.readouterr().err


def test_report_prints_saved_results_without_running_anything(capsys, tmp_path):
    from revs.experiments.results import Results, rows_for

    paths = []
    for method, score in (("revs", 0.9), ("memit", 0.4)):
        run = {"method": method, "dataset": "ssn", "seed": 0, "seconds_per_target": 2.0,
               "seconds_scoring": 100.0, "machine": {"weights": f"{method}-machine"}}
        results = Results(rows_for(method, "ssn", 0, {("unlearning_score", 100): score,
                                                      ("perplexity", None): 30.0}), [run])
        paths.append(tmp_path / f"{method}.json")
        results.save(paths[-1])
    assert main(["report", *map(str, paths), "--wide"]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert "warning: ssn: runs edited 2 different models" in printed.err
    ranks = {line.split()[1]: line.split()[2] for line in lines if line.startswith("ssn")}
    assert ranks == {"revs": "1", "memit": "2"}
    assert any(line.startswith("memit ssn seed 0: 2.00 s per secret") for line in lines)
    assert main(["report", str(paths[0]), "--json"]) == 0
    printed = capsys.readouterr()
    assert {row["value"] for row in json.loads(printed.out)} == {0.9, 30.0}
    assert printed.err == ""  # one run, one model
    assert main(["report", str(tmp_path / "missing.json")]) == 2
