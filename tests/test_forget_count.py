"""The forgotten-at-once study: one run per count, nested forget sets, the reading in words."""

import pandas as pd
import pytest

from revs.data import load_dataset, split_records
from revs.evaluation.scoring import scored_config
from revs.experiments import forget_count
from revs.experiments.results import Results, rows_for
from revs.sharing import token_sharing


def _study(rows, method="revs"):
    return pd.DataFrame([{"n_forget": n, "n_subjects": 40, "seed": 0, "token_sharing": s,
                          "method": method, "specificity": v, "efficacy": 1.0,
                          "generality": 0.5, "unlearning_score": 0.6}
                         for n, s, v in rows])


@pytest.mark.parametrize("rows, expected", [
    ([(5, 0.1, 0.97), (10, 0.2, 0.9)],
     "at every count forgotten at once (5, 10 of 40; token sharing up to 0.20)"),
    ([(5, 0.1, 0.5), (10, 0.2, 0.4)],
     "at no count forgotten at once (5, 10 of 40; token sharing from 0.10)"),
    ([(5, 0.09, 0.97), (10, 0.23, 0.9), (20, 0.4, 0.74), (30, 0.5, 0.68)],
     "forgetting up to 10 of 40 subjects at once (token sharing up to 0.23) and below it "
     "from 20 (token sharing 0.40)"),
    ([(5, 0.1, 0.7), (10, 0.2, 0.9), (20, 0.4, 0.7)],
     "forgetting 10 of 40 subjects at once and below it forgetting 5, 20: no single count "
     "separates them"),
])
def test_count_reading_says_what_the_rows_say(rows, expected):
    assert forget_count.count_reading(_study(rows)) == f"specificity is at least 0.80 {expected}"


def test_count_reading_averages_seeds_and_needs_the_method():
    study = pd.concat([_study([(5, 0.1, 0.7)]), _study([(5, 0.3, 0.95)]).assign(seed=1)])
    assert forget_count.count_reading(study).endswith("(5 of 40; token sharing up to 0.20)")
    with pytest.raises(ValueError, match="no rows of 'memit'"):
        forget_count.count_reading(study, "memit")
    table = forget_count.summary(pd.concat([study, study.assign(method="random-neurons")]))
    assert table.loc[(5, "revs"), "specificity"] == pytest.approx(0.825)


def test_readings_name_what_the_book_states():
    revs = _study([(5, 0.1, 0.95), (20, 0.4, 0.7)]).assign(settings="swept on emails")
    placebo = _study([(5, 0.1, 1.0), (20, 0.4, 0.98)], "random-neurons").assign(settings="s")
    values = forget_count.readings(pd.concat([revs, placebo]))
    assert values["counts"] == "5, 20" and values["subjects"] == 40
    assert values["settings"] == "swept on emails" and values["protocol"] == "20 of 40"
    assert values["protocol_sharing"] == pytest.approx(0.4)
    assert values["protocol_specificity"] == pytest.approx(0.7)
    assert values["protocol_placebo"] == pytest.approx(0.98)
    assert values["reading_random_neurons"].startswith("specificity is at least 0.80 at every")
    assert values["efficacy_revs"] == forget_count.count_reading(revs, metric="efficacy")
    # without the protocol's count there is nothing to say about it
    assert "protocol" not in forget_count.readings(revs[revs.n_forget == 5])


def test_counts_outside_the_testbed_are_refused_before_any_run(monkeypatch):
    monkeypatch.setattr(forget_count, "evaluate", lambda *a, **k: pytest.fail("ran"))
    for counts in [(0, 5), (5, 40), ()]:
        with pytest.raises(ValueError, match="counts must lie between 1 and 39"):
            forget_count.forget_count_study(counts)


def test_seed_scores_reads_one_threshold_and_marks_what_a_run_lacks():
    values = {("efficacy", 100): 0.9, ("efficacy", 10): 0.1, ("specificity", None): 0.8}
    results = Results(rows_for("revs", "emails", 3, values), [{"seed": 3, "config_source": "x"}])
    assert results.seed_scores(("efficacy", "specificity", "generality"), 100) == {
        3: {"efficacy": 0.9, "specificity": 0.8, "generality": None, "settings": "x"}}


@pytest.mark.parametrize("seed", [0, 1])
def test_forget_sets_of_one_seed_nest(seed):
    records = load_dataset("emails", n_subjects=40)
    forgets = [{r.subject for r in split_records(records, seed, n).forget} for n in (5, 10, 20)]
    assert [len(f) for f in forgets] == [5, 10, 20]
    assert forgets[0] < forgets[1] < forgets[2]


@pytest.mark.integration
def test_the_study_runs_each_count_with_its_forget_set_and_sharing(monkeypatch):
    from revs.model import load_tokenizer

    calls = []

    def evaluate(method, dataset, seeds, *, settings, parts, **kwargs):
        calls.append((method, dataset, settings.n_forget, tuple(parts)))
        values = {("efficacy", 100): 1.0, ("generality", 100): 0.5, ("specificity", None): 0.25,
                  ("unlearning_score", 100): 0.4}
        return Results([row for s in seeds for row in rows_for(method, dataset, s, values)],
                       [{"seed": s, "config_source": f"from {method}"} for s in seeds])

    monkeypatch.setattr(forget_count, "evaluate", evaluate)
    study = forget_count.forget_count_study((10, 5), seeds=(0, 1))
    assert calls == [(m, "emails", n, ("effectiveness",))
                     for n in (5, 10) for m in forget_count.METHODS]
    assert len(study) == 8 and (study.n_subjects == 40).all()
    assert set(study.settings) == {f"from {m}" for m in forget_count.METHODS}
    split = split_records(load_dataset("emails", n_subjects=40), 1, 10)
    expected = token_sharing(load_tokenizer(), split, scored_config(None))
    assert study[(study.n_forget == 10) & (study.seed == 1)].token_sharing.eq(expected).all()
