"""The comparison beside the paper: names line up, values are ours or the paper's, never mixed."""

import pytest

from revs.comparison import beside_paper, paper_results, stored_results
from revs.results import Results, rows_for


def test_paper_results_are_scores_with_k():
    paper = paper_results()
    assert list(paper.columns) == ["dataset", "method", "metric", "k", "mean", "std"]
    assert paper[paper.metric == "specificity"].k.isna().all()
    assert (paper[paper.metric != "specificity"].k == 100).all()


def test_beside_paper_joins_on_dataset_method_and_metric():
    rows = []
    for seed, score in enumerate([0.2, 0.4]):
        rows += rows_for("revs", "ssn", seed, {("unlearning_score", 100): score,
                                               ("unlearning_score", 10): 0.9,
                                               ("specificity", None): 0.5,
                                               ("perplexity", None): 30.0})
    rows += rows_for("unedited", "urls", 0, {("specificity", None): 1.0})
    table = beside_paper(Results(rows, []))
    got = {(r.dataset, r.method, r.metric): r for r in table.itertuples()}
    assert set(got) == {("ssn", "revs", "unlearning_score"), ("ssn", "revs", "specificity"),
                        ("urls", "unedited", "specificity")}
    score = got["ssn", "revs", "unlearning_score"]
    assert score.ours == pytest.approx(0.3) and score.ours_std == pytest.approx(0.1)
    assert score.paper == pytest.approx(0.8958) and score.paper_std == pytest.approx(0.0199)
    assert got["ssn", "revs", "specificity"].paper == pytest.approx(0.8217)
    assert table[(table.dataset == "urls")].paper.isna().all()  # the paper has no such row


def test_missing_stored_results_say_how_to_make_them(tmp_path, monkeypatch):
    import revs.comparison

    monkeypatch.setattr(revs.comparison, "STORED_RESULTS", tmp_path)
    with pytest.raises(FileNotFoundError, match="revs evaluate"):
        stored_results("nothing")
