import pandas as pd
import pytest

from revs.evaluation.scoring import K_FREE_METRICS, K_METRICS
from revs.experiments.results import (
    Results,
    cache_key,
    check_thresholds,
    package_versions,
    rows_for,
)


def _results():
    rows = []
    for seed, (eff, spec) in enumerate([(0.2, 1.0), (0.6, 0.5)]):
        rows += rows_for("revs", "ssn", seed, {("efficacy", 100): eff, ("efficacy", 10): eff / 2,
                                               ("specificity", None): spec})
    return Results(rows, [{"seed": 0}, {"seed": 1}])


def test_rows_are_tidy_and_ordered():
    rows = rows_for("revs", "ssn", 3, {("specificity", None): 1.0, ("efficacy", 100): 0.5,
                                       ("efficacy", 10): 0.25})
    assert [(r["metric"], r["k"]) for r in rows] == [
        ("efficacy", 10), ("efficacy", 100), ("specificity", None)]
    assert set(rows[0]) == {"method", "dataset", "seed", "k", "metric", "value"}
    assert rows[0]["seed"] == 3 and rows[0]["method"] == "revs"
    assert set(K_METRICS).isdisjoint(K_FREE_METRICS)


def test_aggregate_is_mean_and_population_std_over_seeds():
    table = _results().aggregate()
    row = table[(table.metric == "efficacy") & (table.k == 100)].iloc[0]
    assert row["mean"] == pytest.approx(0.4) and row["std"] == pytest.approx(0.2)  # ddof 0
    assert row["seeds"] == 2
    spec = table[table.metric == "specificity"].iloc[0]
    assert spec["mean"] == pytest.approx(0.75) and spec["std"] == pytest.approx(0.25)
    assert pd.isna(spec["k"])
    assert list(table.metric) == ["efficacy", "efficacy", "specificity"]
    text = _results().text(k=100)
    assert "efficacy" in text and "0.4000" in text and " 10 " not in text


def test_save_load_round_trip(tmp_path):
    results = _results()
    results.rows.append({**results.rows[0], "value": float("nan")})
    path = tmp_path / "r.json"
    results.save(path)
    loaded = Results.load(path)
    assert loaded.rows[:-1] == results.rows[:-1] and loaded.rows[-1]["value"] is None
    assert loaded.runs == results.runs
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a revs results file"):
        Results.load(tmp_path / "bad.json")


def test_cache_key_depends_on_every_input():
    inputs = {"method": "revs", "seed": 0, "settings": {"ks": [10, 100]}}
    assert cache_key(inputs) == cache_key(dict(reversed(inputs.items())))
    assert cache_key(inputs) != cache_key({**inputs, "seed": 1})
    assert cache_key(inputs) != cache_key({**inputs, "settings": {"ks": [10]}})
    assert {"python", "torch", "transformers", "revs", "revs_source"} <= set(package_versions())


@pytest.mark.parametrize("ks, message", [
    ([0], "1 <= k <= 256"), ([-5], "1 <= k <= 256"), ([300], "1 <= k <= 256"),
    ([200], "candidate list"), ([], "at least one"),
])
def test_bad_thresholds_are_refused(ks, message):
    with pytest.raises(ValueError, match=message):
        check_thresholds(ks, d_vocab=256, candidates=100)
    assert check_thresholds([100, 10, 10], 256, 100) == (10, 100)


def test_aggregate_keeps_the_order_methods_were_run_in():
    rows = (rows_for("unedited", "ssn", 0, {("specificity", None): 1.0, ("efficacy", 10): 0.0})
            + rows_for("revs", "ssn", 0, {("efficacy", 10): 1.0, ("specificity", None): 0.0}))
    table = Results(rows).aggregate()
    assert list(zip(table.method, table.metric, strict=True)) == [
        ("unedited", "efficacy"), ("unedited", "specificity"),
        ("revs", "efficacy"), ("revs", "specificity")]


def test_ranking_and_wide_table_rank_methods_within_each_dataset():
    rows = []
    for dataset, scores in {"ssn": {"revs": 0.9, "memit": 0.4, "rmu": 0.9},
                            "urls": {"revs": 0.2, "memit": 0.7, "rmu": 0.1}}.items():
        for method, score in scores.items():
            for seed in (0, 1):
                rows += rows_for(method, dataset, seed, {("unlearning_score", 100): score,
                                                         ("unlearning_score", 10): 1 - score,
                                                         ("perplexity", None): 20.0 + seed})
    results = Results(rows, [])
    ranking = results.ranking("unlearning_score", 100)
    ranks = {(r.dataset, r.method): r.rank for r in ranking.itertuples()}
    assert ranks == {("ssn", "revs"): 1, ("ssn", "rmu"): 1, ("ssn", "memit"): 3,
                     ("urls", "memit"): 1, ("urls", "revs"): 2, ("urls", "rmu"): 3}
    assert results.ranking("unlearning_score", 10).iloc[0]["method"] == "memit"  # ssn, 1 - 0.4
    text = results.wide_text(100)
    line = next(t for t in text.splitlines() if t.startswith("urls") and "revs" in t)
    assert line.split()[2] == "2" and "0.200±0.000" in line and "20.50±0.50" in line


def test_the_controls_get_no_rank_so_ranks_count_only_methods():
    rows = []
    scores = {"unedited": 0.0, "random-neurons": 0.95, "revs": 0.9, "memit": 0.4}
    for method, score in scores.items():
        rows += rows_for(method, "emails", 0, {("unlearning_score", 100): score})
    results = Results(rows, [])
    ranks = {r.method: r.rank for r in results.ranking("unlearning_score", 100).itertuples()}
    assert ranks == {"revs": 1, "memit": 2}
    line = next(t for t in results.wide_text(100).splitlines() if "random-neurons" in t)
    assert line.split()[2] == "-"
    everyone = results.ranking("unlearning_score", 100, controls=())
    assert everyone.iloc[0]["method"] == "random-neurons"


def test_a_dataset_whose_runs_edited_different_weights_is_named_and_older_runs_are_not_blamed():
    def run(dataset, weights=None):
        return {"method": "revs", "dataset": dataset, "seed": 0,
                "machine": {"commit": "abc"} | ({"weights": weights} if weights else {})}

    one_model = Results([], [run("ssn", "aaaa"), run("ssn", "aaaa"), run("ssn")])
    assert one_model.mixed_models() == []  # a run without a digest is no evidence of a second
    mixed = Results([], [run("ssn", "aaaa"), run("ssn", "aaaa"), run("ssn", "bbbb"),
                         run("ssn"), run("urls", "cccc")])
    (sentence,) = mixed.mixed_models()
    assert sentence.startswith("ssn: runs edited 2 different models (2 runs aaaa, ")
    assert "1 run bbbb" in sentence and "1 run without a digest" in sentence
    assert Results([], [{"method": "revs", "dataset": "ssn", "seed": 0}]).mixed_models() == []
