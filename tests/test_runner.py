"""The evaluation runner on tiny models: every metric, bad input, patches and the cache."""

import dataclasses
import warnings

import pytest
import torch
from conftest import ByteTokenizer, build_tiny_model

import revs.experiments.runner as runner
from revs.config import REVSConfig
from revs.data.records import Record, save_records, split_records
from revs.evaluation.scoring import K_FREE_METRICS, K_METRICS
from revs.experiments.runner import EvalSettings, evaluate, evaluate_run
from revs.methods import METHODS, MethodRun, get_method, register_method
from revs.model import weights_digest
from revs.unlearn import unlearn

# Bands inside the tiny vocabulary (256), as in test_unlearn.
CONFIG = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                    n_neurons=8, act_filter=16, initial_neurons=2)
SETTINGS = EvalSettings(ks=(5, 50), n_forget=3, corpus_documents=1, max_new_tokens=6,
                        samples=2, delta_candidates=100)
RECORDS = [
    Record(f"s{i}", "ssn", f"{prefix} {name} is", f" {i}{i + 1}-{i + 2}")
    for i, name in enumerate(["Ann", "Bob", "Cyd", "Dee", "Eve", "Flo"])
    for prefix in ("The number of", "Records say the code of")
]


def _load():
    return build_tiny_model("llama"), ByteTokenizer()


def _values(results):
    return {(r["metric"], r["k"]): r["value"] for r in results.rows}


@pytest.mark.parametrize("method", ["unedited", "revs"])
def test_a_run_scores_every_metric_at_every_k(method):
    config = CONFIG if method == "revs" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = evaluate_run(method, RECORDS, 0, _load, dataset="toy", config=config,
                               settings=SETTINGS)
    values = _values(results)
    assert set(values) == ({(m, k) for m in K_METRICS for k in SETTINGS.ks}
                           | {(m, None) for m in K_FREE_METRICS})
    for (metric, _), value in values.items():
        if metric != "perplexity":
            assert 0.0 <= value <= 1.0, metric
    assert values[("perplexity", None)] > 1
    assert all(r["method"] == method and r["dataset"] == "toy" and r["seed"] == 0
               for r in results.rows)
    run = results.runs[0]
    assert (run["n_forget"], run["n_generality"], run["n_retain"]) == (3, 3, 6)
    assert run["settings"]["ks"] == [5, 50] and "torch" in run["versions"]
    if method == "revs":
        assert run["config"]["neuron_band"] == list(CONFIG.neuron_band)
        assert run["details"]["layer_edits"] > 0


def test_the_unedited_run_matches_the_metric_functions():
    from revs.evaluation.attacks import delta_attack, logit_lens_attack
    from revs.evaluation.metrics import efficacy, generality

    results = evaluate_run("unedited", RECORDS, 1, _load, dataset="toy", settings=SETTINGS)
    values = _values(results)
    model, tokenizer = _load()
    split = split_records(RECORDS, 1, n_forget=3)
    score = dataclasses.replace(REVSConfig(), token_method="rarest")
    for k in SETTINGS.ks:
        assert values[("efficacy", k)] == pytest.approx(
            efficacy(model, tokenizer, split.forget, score, k=k))
        assert values[("generality", k)] == pytest.approx(
            generality(model, tokenizer, split.generality, score, k=k))
        assert values[("logit_lens_attack", k)] == pytest.approx(
            logit_lens_attack(model, tokenizer, split.forget, score, k=k))
        assert values[("delta_attack", k)] == pytest.approx(
            delta_attack(model, tokenizer, split.forget, score, k=k, candidates=100))


def test_without_generality_records_the_unlearning_score_leaves_it_out():
    singles = [r for r in RECORDS if r.prompt.startswith("The")]
    results = evaluate_run("unedited", singles, 0, _load, dataset="toy", settings=SETTINGS)
    values = _values(results)
    assert ("generality", 5) not in values
    from revs.evaluation.metrics import harmonic_mean

    assert values[("unlearning_score", 5)] == pytest.approx(
        harmonic_mean([values[("efficacy", 5)], values[("specificity", None)]]))


def test_bad_settings_and_splits_are_clear_errors():
    with pytest.raises(ValueError, match="1 <= k <= 256"):
        evaluate_run("unedited", RECORDS, 0, _load, dataset="toy",
                     settings=dataclasses.replace(SETTINGS, ks=(0,)))
    with pytest.raises(ValueError, match="1 <= k <= 256"):
        evaluate_run("unedited", RECORDS, 0, _load, dataset="toy",
                     settings=dataclasses.replace(SETTINGS, ks=(300,)))
    with pytest.raises(ValueError, match="n_forget must be between"):
        evaluate_run("unedited", RECORDS, 0, _load, dataset="toy",
                     settings=dataclasses.replace(SETTINGS, n_forget=6))
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        evaluate_run("nope", RECORDS, 0, _load, dataset="toy", settings=SETTINGS)


def test_a_patch_is_checked_against_the_model_and_the_split():
    model, tokenizer = _load()
    forget = split_records(RECORDS, 0, n_forget=3).forget
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch = unlearn(model, tokenizer, forget, CONFIG, progress=False).patch
    results = evaluate_run("revs", RECORDS, 0, _load, dataset="toy", patch=patch,
                           settings=SETTINGS)
    assert results.runs[0]["details"] == {"from_patch": True}
    with pytest.raises(ValueError, match=r"did not unlearn \d of the 3 forget records of seed 1"):
        evaluate_run("revs", RECORDS, 1, _load, dataset="toy", patch=patch, settings=SETTINGS)
    with pytest.raises(ValueError, match="another model"):
        evaluate_run("revs", RECORDS, 0, lambda: (build_tiny_model("llama", seed=1),
                                                  ByteTokenizer()),
                     dataset="toy", patch=patch, settings=SETTINGS)


def test_evaluate_caches_runs_by_their_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("REVS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "load_model", lambda model=None: _load())
    data = tmp_path / "toy.csv"
    save_records(RECORDS, data)
    first = evaluate("unedited", str(data), [0, 1], settings=SETTINGS)
    assert {r["seed"] for r in first.rows} == {0, 1} and len(first.runs) == 2
    assert len(list((tmp_path / "cache" / "results").glob("*.json"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("a cached run was recomputed")

    monkeypatch.setattr(runner, "evaluate_run", fail)
    again = evaluate("unedited", str(data), [0, 1], settings=SETTINGS)
    assert again.rows == first.rows and again.runs == first.runs
    with pytest.raises(AssertionError, match="recomputed"):  # other settings: another key
        evaluate("unedited", str(data), [0], settings=dataclasses.replace(SETTINGS, ks=(5,)))


def test_a_store_keeps_finished_runs_across_caches_and_source_changes(tmp_path, monkeypatch):
    """A long job resumes from its committed store on a machine whose cache is gone."""
    monkeypatch.setenv("REVS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "load_model", lambda model=None: _load())
    data, store = tmp_path / "toy.csv", tmp_path / "store"
    save_records(RECORDS, data)
    first = evaluate("unedited", str(data), [0], settings=SETTINGS, store=store)
    (stored,) = store.glob("unedited-toy.csv-seed0-*.json")
    assert first.runs[0]["machine"]["cpu_bf16_units"] in (True, False)
    assert first.runs[0]["machine"]["weights"] == weights_digest(_load()[0])[:16]

    def fail(*args, **kwargs):
        raise AssertionError("a stored run was recomputed")

    monkeypatch.setenv("REVS_CACHE_DIR", str(tmp_path / "fresh-cache"))  # the cache is gone
    source_digest = runner.package_versions

    def other_source():
        return {**source_digest(), "revs_source": "0" * 16}

    monkeypatch.setattr(runner, "package_versions", other_source)  # and the code changed
    monkeypatch.setattr(runner, "evaluate_run", fail)
    again = evaluate("unedited", str(data), [0], settings=SETTINGS, store=store)
    assert again.rows == first.rows
    assert again.runs[0]["versions"]["revs_source"] != "0" * 16  # the run keeps its own digest
    with pytest.raises(AssertionError, match="recomputed"):  # without the store: recomputed
        evaluate("unedited", str(data), [0], settings=SETTINGS)
    finished = evaluate("unedited", str(data), [0, 1], settings=SETTINGS, store=store,
                        compute_missing=False)  # seed 1 never ran: left out, not computed
    assert finished.rows == first.rows and len(finished.runs) == 1
    versions = {**source_digest(), "torch": "0.0"}
    monkeypatch.setattr(runner, "package_versions", lambda: versions)
    with pytest.raises(AssertionError, match="recomputed"):  # another torch: not reused
        evaluate("unedited", str(data), [0], settings=SETTINGS, store=store)
    assert list(store.glob("*.json")) == [stored]
    with pytest.raises(NotADirectoryError, match="is a file: give a folder"):
        evaluate("unedited", str(data), [0], settings=SETTINGS, store=stored)


def test_revs_evaluate_finished_only_computes_nothing(monkeypatch, tmp_path, capsys):
    from revs import cli

    asked = []

    def record(method, dataset, seeds, **kwargs):
        asked.append((method, dataset, kwargs["compute_missing"], kwargs["store"]))
        return runner.Results()

    monkeypatch.setattr(runner, "evaluate", record)
    out = tmp_path / "finished.json"
    args = ["evaluate", "--method", "unedited", "revs", "--dataset", "ssn", "--store", "runs",
            "--out", str(out)]
    assert cli.main([*args, "--finished-only"]) == 0
    assert asked == [("unedited", "ssn", False, "runs"), ("revs", "ssn", False, "runs")]
    assert runner.Results.load(out).runs == []  # nothing finished: an empty table, not a run
    asked.clear()
    assert cli.main(args) == 0
    assert {compute for _, _, compute, _ in asked} == {True}


def test_method_registry():
    assert {"unedited", "revs"} <= set(METHODS)
    assert get_method("revs").default_config() == REVSConfig()
    with pytest.raises(ValueError, match="unknown method 'x'.*revs"):
        get_method("x")
    with pytest.raises(ValueError, match="already registered"):
        register_method(type("M", (), {"name": "revs"})())
    model, tokenizer = _load()
    before = [p.clone() for p in model.parameters()]
    run = get_method("unedited")(model, tokenizer, RECORDS[:1])
    assert isinstance(run, MethodRun) and run.seconds == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(TypeError, match="REVSConfig"):
        get_method("revs")(model, tokenizer, RECORDS[:1], config={"n_neurons": 3})
