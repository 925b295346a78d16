"""The comparison beside the paper: names line up, values are ours or the paper's, never mixed."""

import importlib
import math

import pytest
import torch
from conftest import build_tiny_model

from revs.config import REVSConfig
from revs.data.records import Record, Split
from revs.experiments.results import Results, rows_for
from revs.report.comparison import (
    beside_paper,
    coverage,
    one_model_text,
    paper_results,
    standing,
    standing_text,
    stored_results,
    summary,
)
from revs.report.explore import collateral, collateral_steps, shared_tokens


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
    import revs.report.comparison

    monkeypatch.setattr(revs.report.comparison, "STORED_RESULTS", tmp_path)
    with pytest.raises(FileNotFoundError, match="revs evaluate"):
        stored_results("nothing")


def _results(scores: dict[tuple[str, str], dict[tuple[str, int | None], float]], seeds=(0, 1)):
    rows = []
    for (method, dataset), values in scores.items():
        for seed in seeds:
            rows += rows_for(method, dataset, seed, values)
    return Results(rows, [])


def test_summary_has_a_row_per_dataset_and_method_with_its_rank():
    results = _results({
        ("unedited", "ssn"): {("unlearning_score", 100): 0.0, ("specificity", None): 1.0},
        ("revs", "ssn"): {("unlearning_score", 100): 0.9, ("unlearning_score", 10): 0.1,
                          ("specificity", None): 0.8},
        ("ft-l", "ssn"): {("unlearning_score", 100): 0.4, ("specificity", None): 0.3},
        ("random-neurons", "ssn"): {("unlearning_score", 100): 0.95, ("specificity", None): 1.0},
    })
    table = summary(results).set_index(["dataset", "method"])
    assert list(table.columns) == ["rank", "unlearning_score", "specificity"]
    assert table.loc[("ssn", "revs")].tolist() == pytest.approx([1, 0.9, 0.8])
    assert table.loc[("ssn", "ft-l"), "rank"] == 2
    # The controls are shown but not ranked: the placebo's 0.95 does not push REVS down.
    assert table.loc[[("ssn", "unedited"), ("ssn", "random-neurons")], "rank"].isna().all()


def test_standing_ranks_revs_among_the_baselines_and_says_it_in_words():
    results = _results({
        ("revs", "ssn"): {("unlearning_score", 100): 0.2},
        ("memit", "ssn"): {("unlearning_score", 100): 0.5},
        ("ft-l", "ssn"): {("unlearning_score", 100): 0.2},
        ("unedited", "ssn"): {("unlearning_score", 100): 0.9},  # a control: not ranked
        ("revs", "emails"): {("unlearning_score", 100): 0.8},
        ("memit", "emails"): {("unlearning_score", 100): 0.7},
        ("memit", "urls"): {("unlearning_score", 100): 0.7},  # no REVS row: left out
    })
    table = standing(results)
    assert table.to_dict("list") == {"dataset": ["ssn", "emails"], "rank": [2, 1], "of": [3, 2],
                                     "mean": [0.2, 0.8], "best": ["memit", "memit"],
                                     "best_mean": [0.5, 0.7]}
    assert standing_text(table) == ("second of 3 on SSNs (0.200; the first, memit, 0.500) and "
                                    "first of 2 on e-mails (0.800; the next, memit, 0.700)")
    assert standing(paper_results()).set_index("dataset")["of"].to_dict() == {
        "ssn": 7, "emails": 7, "urls": 7}  # the paper's own table reads the same way


def test_coverage_counts_the_seeds_of_each_method_and_dataset():
    results = _results({("revs", "ssn"): {("specificity", None): 1.0}}, seeds=(0, 2))
    table = coverage(results, methods=["unedited", "revs"], datasets=["ssn", "urls"])
    assert table.to_dict("index") == {"unedited": {"ssn": 0, "urls": 0},
                                      "revs": {"ssn": 2, "urls": 0}}


def test_one_model_text_says_whether_a_dataset_mixed_models():
    def run(dataset, weights=None):
        return {"method": "revs", "dataset": dataset, "seed": 0,
                "machine": {"weights": weights} if weights else {}}

    same = Results([], [run("ssn", "aaaa"), run("ssn", "aaaa"), run("urls")])
    assert one_model_text(same).startswith("2 of the 3 runs record a digest of the weights "
                                           "they edited (1 older run predates it), and")
    assert one_model_text(Results([], [run("ssn", "aaaa")])).endswith("the same memorized model.")
    mixed = Results([], [run("ssn", "aaaa"), run("ssn", "bbbb")])
    assert one_model_text(mixed).startswith("Not every dataset's runs edited the same model: ssn:")


def test_the_shipped_comparison_is_complete_and_edits_one_model_per_dataset():
    results = stored_results()
    seeds_per_cell = coverage(results, methods=sorted({r["method"] for r in results.runs}))
    assert (seeds_per_cell == 3).all(axis=None)
    assert results.mixed_models() == []


def test_shared_tokens_finds_retained_secrets_made_of_unlearned_tokens(byte_tokenizer):
    forget = Record("a", "doc", "Key:", " zq")  # byte ids: the rarest two are z and q
    retain = (Record("b", "doc", "Key:", " zzy"), Record("b", "doc", "Code:", " zzy"),
              Record("c", "doc", "Key:", " abc"))
    table = shared_tokens(byte_tokenizer, Split((forget,), (), retain))
    assert table.subject.tolist() == ["b", "c"]  # one row per retained subject
    assert table.shared.tolist() == [["z"], []]
    assert table.n_shared.tolist() == [1, 0]


def test_ledger_compares_revs_with_the_paper_and_the_baselines():
    from revs.report.ledger import disagreements, ledger

    paper = {"unlearning_score": 0.8958, "efficacy": 0.9888, "generality": 0.5,
             "specificity": 0.8217}
    scores = {("revs", "ssn"): {(m, None if m == "specificity" else 100): v
                                for m, v in paper.items()}}
    scores["revs", "ssn"]["resistance_score", 100] = 0.2
    for method in ("ft-l", "memit"):
        scores[method, "ssn"] = {("unlearning_score", 100): 0.3, ("resistance_score", 100): 0.5}
    # The controls are not ranked: a placebo out of the way of every secret resists "best".
    scores["random-neurons", "ssn"] = {("unlearning_score", 100): 0.0,
                                       ("resistance_score", 100): 0.9}
    table = ledger(_results(scores)).set_index(["dataset", "claim"])
    ssn = table.loc["ssn"].agrees.to_dict()
    assert ssn["REVS has the highest unlearning score of all methods"]
    assert ssn["REVS's unlearning score exceeds the best baseline's"]
    assert ssn["REVS's efficacy at k = 100"] and ssn["REVS's specificity"]
    assert not ssn["REVS's generality at k = 100"]  # 0.5 is far from the paper's 0.8967
    assert not ssn["REVS has the highest or second-highest resistance score"]  # third of three
    assert not ssn["REVS has the highest resistance score of all methods"]
    assert table.loc[("ssn", "REVS has the highest resistance score of all methods"),
                     "ours"] == "rank 3"
    assert table.loc[("ssn", "REVS's specificity"), "ours_is"] == "equal"
    words = disagreements(ledger(_results(scores)))
    assert words == "REVS's generality at k = 100 on ssn (ours lower)"
    assert table.loc["emails"].agrees.isna().all()  # nothing measured there
    assert table.loc[("ssn", "REVS's efficacy at k = 100"), "paper"] == "0.989 ± 0.013"


def test_firsts_says_per_score_where_revs_ranks_first():
    from revs.report.ledger import firsts, ledger

    scores = {}
    for dataset, revs_score in (("ssn", 0.1), ("emails", 0.9)):
        scores["revs", dataset] = {("unlearning_score", 100): revs_score,
                                   ("resistance_score", 100): 0.8}
        scores["memit", dataset] = {("unlearning_score", 100): 0.5,
                                    ("resistance_score", 100): 0.9}
    assert firsts(ledger(_results(scores))) == (
        "REVS ranks first by the unlearning score on e-mails (not on SSNs: rank 2; URLs not "
        "measured yet) and by the resistance score on none (SSNs: rank 2 and e-mails: rank 2; "
        "URLs not measured yet)")


# Bands inside the byte vocabulary (256) that make REVS edit the random tiny model for sure.
FORCE = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                   n_neurons=8, act_filter=16, initial_neurons=2)
FORGET = (Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
          Record("b", "ssn", "Bob's number:", " 123-45-6789"))
RETAIN = (Record("c", "ssn", "Cy's number is", " 555-19-2040"),
          Record("d", "ssn", "Dee:", " 777-00-3131"))


def _weights(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_collateral_forgets_one_secret_at_a_time_and_restores_the_model(byte_tokenizer):
    from revs.evaluation.generation import greedy_matches_ids
    from revs.tokens import encode
    from revs.unlearn import unlearn

    model = build_tiny_model("llama")
    before = _weights(model)
    trace = collateral(model, byte_tokenizer, Split(FORGET, (), RETAIN), FORCE)
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())

    assert trace.forgotten.tolist() == [0, 0, 1, 1, 2, 2]
    assert trace.subject.tolist() == ["c", "d"] * 3
    demoted = [set(u) for u in trace.groupby("forgotten").unlearned.first()]
    assert demoted[0] == set() and demoted[0] < demoted[1] <= demoted[2]
    for row in trace.itertuples():
        assert (row.broken_at == "") == row.reproduced
        assert row.at_unlearned == (not row.reproduced and row.broken_at in row.unlearned)
        assert row.shares == any(token in row.secret for token in row.unlearned)  # byte tokens

    # The last step is the ordinary run: every forget secret unlearned in one call.
    unlearn(model, byte_tokenizer, FORGET, FORCE, progress=False)
    pairs = [encode(byte_tokenizer, r) for r in RETAIN]
    checks = greedy_matches_ids(model, [p for p, _ in pairs], [t for _, t in pairs])
    last = trace[trace.forgotten == 2]
    assert last.reproduced.tolist() == [c.matched for c in checks]
    first_wrong = ["" if c.matched else r.target[c.matched_tokens]
                   for c, r in zip(checks, RETAIN, strict=True)]
    assert last.broken_at.tolist() == first_wrong


def test_collateral_restores_the_model_when_an_edit_fails(byte_tokenizer, monkeypatch):
    explore_module = importlib.import_module("revs.report.explore")
    calls = []

    def unlearn_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("edit failed")
        return real(*args, **kwargs)

    real = explore_module.unlearn
    monkeypatch.setattr(explore_module, "unlearn", unlearn_then_fail)
    model = build_tiny_model("llama")
    before = _weights(model)
    with pytest.raises(RuntimeError, match="edit failed"):
        collateral(model, byte_tokenizer, Split(FORGET, (), RETAIN), FORCE)
    assert len(calls) == 2
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_collateral_steps_count_what_breaks_and_where():
    import pandas as pd

    def row(step, subject, unlearned, broken_at):
        return {"forgotten": step, "subject": subject, "secret": "", "unlearned": unlearned,
                "reproduced": broken_at == "", "broken_at": broken_at,
                "at_unlearned": broken_at in unlearned, "shares": True}

    trace = pd.DataFrame([row(0, "c", (), ""), row(0, "d", (), ""),
                          row(1, "c", ("9",), "9"), row(1, "d", ("9",), ""),
                          row(2, "c", ("8", "9"), "9"), row(2, "d", ("8", "9"), "1")])
    steps = collateral_steps(trace)
    assert steps.columns.tolist() == ["forgotten", "demoted", "kept", "broken", "at_unlearned"]
    assert steps.demoted.tolist() == ["", "'9'", "'8'"]
    assert steps.kept.tolist() == [1.0, 0.5, 0.0]
    assert steps.broken.tolist() == [0, 1, 2]
    assert math.isnan(steps.at_unlearned[0]) and steps.at_unlearned[1:].tolist() == [1.0, 0.5]


@pytest.mark.parametrize(("rows", "reading"), [
    ([(0, True, False, True), (1, True, False, True)], "no retained secret is lost"),
    ([(1, False, False, True), (1, False, True, True), (1, True, False, False)],
     "at most half"),
    ([(1, False, True, True), (1, False, True, True)], "cannot be compared"),
    ([(1, False, True, True), (1, True, False, True), (1, True, False, False)],
     "sharing such a token is what puts"),
    ([(1, False, True, True), (1, True, False, True), (1, False, True, False)],
     "does not make a retained secret less likely"),
])
def test_collateral_reading_says_what_the_rows_show(rows, reading):
    import pandas as pd

    from revs.report.explore import collateral_reading

    trace = pd.DataFrame(rows, columns=["forgotten", "reproduced", "at_unlearned", "shares"])
    assert reading in collateral_reading(trace)


def test_placebo_reading_names_the_fragile_testbeds():
    from revs.report.comparison import placebo_reading

    scores = {("revs", "ssn"): {("specificity", None): 0.0},
              ("random-neurons", "ssn"): {("specificity", None): 0.99},
              ("revs", "emails"): {("specificity", None): 0.7},
              ("random-neurons", "emails"): {("specificity", None): 0.96}}
    table = summary(_results(scores))
    assert placebo_reading(table) == (
        "the placebo's specificity is 0.99 on SSNs and 0.96 on e-mails, REVS's 0.00 and 0.70: "
        "editing as many neurons at random costs the retained secrets almost nothing, so what "
        "REVS loses beyond the placebo follows the tokens it picks")
    scores["random-neurons", "emails"] = {("specificity", None): 0.5}
    assert placebo_reading(summary(_results(scores))).endswith(
        "the placebo itself loses retained secrets on e-mails (below 0.95): there the testbed "
        "is fragile")
    assert "not both measured" in placebo_reading(summary(_results({("revs", "ssn"): {
        ("specificity", None): 0.0}})))
