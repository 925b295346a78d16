"""The token-sharing study: passphrase testbeds, runs on given records, the verdict sentence."""

import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import ByteTokenizer, build_tiny_model

import revs.experiments.runner as runner
from revs.data import split_records
from revs.data.passphrases import PASSPHRASE_KINDS, generate_passphrase_records
from revs.evaluation.scoring import EvalSettings, scored_config
from revs.experiments import sharing_study
from revs.experiments.testbed import Memorized
from revs.sharing import token_sharing

POOL = ["amber", "birch", "cedar", "delta", "ember", "flint", "grove", "heron"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_passphrases_are_distinct_draws_from_the_pool_in_five_documents(seed):
    records = generate_passphrase_records(POOL, 6, seed, words_per_secret=3)
    assert records == generate_passphrase_records(POOL, 6, seed, words_per_secret=3)
    assert records != generate_passphrase_records(POOL, 6, seed + 3, words_per_secret=3)
    by_subject = {}
    for record in records:
        by_subject.setdefault(record.subject, []).append(record)
        words = record.target.split()
        assert record.target.startswith(" ") and len(words) == len(set(words)) == 3
        assert set(words) <= set(POOL) and record.rule == "secret"
        assert record.secret not in record.prompt
    assert len(by_subject) == 6
    assert all([r.kind for r in rs] == list(PASSPHRASE_KINDS) and len({r.target for r in rs}) == 1
               for rs in by_subject.values())
    assert len({rs[0].target for rs in by_subject.values()}) == 6  # one phrase per subject


def test_passphrase_generator_refuses_pools_it_cannot_use():
    for pool, match in [(["amber", "Birch"], "lowercase"), (["amber", "amber"], "distinct"),
                        (["am ber", "birch"], "lowercase"), (["a1", "b"], "lowercase")]:
        with pytest.raises(ValueError, match=match):
            generate_passphrase_records(pool, 2)
    with pytest.raises(ValueError, match="words_per_secret must be between 1 and the pool's 3"):
        generate_passphrase_records(POOL[:3], 2, words_per_secret=4)
    with pytest.raises(ValueError, match="too few distinct passphrases"):
        generate_passphrase_records(POOL[:2], 5, words_per_secret=2)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        generate_passphrase_records(POOL, 1)


def _study(rows):
    return pd.DataFrame([{"pool_size": p, "seed": 0, "token_sharing": s, "method": "revs",
                          "specificity": v} for p, s, v in rows])


@pytest.mark.parametrize("rows, expected", [
    ([(10, 1.0, 0.9), (1000, 0.1, 1.0)], "on every pool (token sharing 0.10, 1.00)"),
    ([(10, 1.0, 0.1), (1000, 0.1, 0.5)], "on no pool (token sharing 0.10, 1.00: below it on all)"),
    ([(10, 1.0, 0.0), (100, 0.5, 0.2), (1000, 0.1, 0.9)],
     "on every pool with token sharing up to 0.10 and below it on every pool from 0.50"),
    ([(10, 1.0, 0.9), (100, 0.5, 0.2), (1000, 0.1, 0.9)],
     "on the pools with token sharing 0.10, 1.00 and below it on those with 0.50: no single"),
])
def test_verdict_says_what_the_rows_say(rows, expected):
    sentence = sharing_study.verdict(_study(rows))
    assert sentence.startswith("specificity is at least 0.80 ") and expected in sentence


def test_verdict_averages_seeds_and_needs_the_method():
    study = pd.concat([_study([(10, 1.0, 0.7)]), _study([(10, 0.8, 0.95)]).assign(seed=1)])
    assert "on every pool (token sharing 0.90)" in sharing_study.verdict(study)
    with pytest.raises(ValueError, match="no rows of 'memit'"):
        sharing_study.verdict(study, "memit")


def test_evaluate_memorizes_given_records_and_scores_only_the_parts_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("REVS_CACHE_DIR", str(tmp_path / "cache"))
    records = generate_passphrase_records(POOL, 4, 0, words_per_secret=2)
    memorized = []

    def memorize(given, base_model=None):
        memorized.append(list(given))
        return Memorized(build_tiny_model("llama"), ByteTokenizer(), Path(tmp_path), {})

    monkeypatch.setattr(runner, "memorize", memorize)
    settings = EvalSettings(ks=(5,), corpus_documents=1, max_new_tokens=4, samples=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = runner.evaluate("unedited", "phrases", [0], settings=settings,
                                  parts=("effectiveness",), records=records)
        full = runner.evaluate("unedited", "phrases", [0], settings=settings, records=records)
    assert memorized == [records, records]  # a testbed: memorized, under the name it was given
    assert {r["metric"] for r in results.rows} == {"efficacy", "generality", "specificity",
                                                  "unlearning_score"}
    assert {r["dataset"] for r in results.rows} == {"phrases"}
    assert {"perplexity", "delta_attack"} <= {r["metric"] for r in full.rows}
    assert results.runs[0]["cache_key"] != full.runs[0]["cache_key"]
    assert len(list((tmp_path / "cache" / "results").glob("*.json"))) == 2
    with pytest.raises(ValueError, match="parts must be some of effectiveness"):
        runner.evaluate("unedited", "phrases", [0], parts=("speed",), records=records)


def test_every_method_of_the_study_runs_with_a_current_passphrase_sweep():
    from revs.experiments import tuning

    for method in sharing_study.METHODS:  # not the SSN sweep, where every REVS setting ties
        assert tuning.is_current(tuning.SETTINGS_OF.get(method, method), "passphrases")
        assert tuning.tuned_config(method, dataset="passphrases-10") is not None


@pytest.mark.integration
def test_pools_are_single_tokens_that_nest_and_set_the_sharing():
    from revs.model import load_tokenizer

    tokenizer = load_tokenizer()
    pool = sharing_study.token_pool(tokenizer, 1000)
    assert len(set(pool)) == 1000 and sharing_study.token_pool(tokenizer, 30) == pool[:30]
    assert sharing_study.token_pool(tokenizer, 30, seed=1) != pool[:30]
    for word in pool[:200]:
        assert len(tokenizer(" " + word, add_special_tokens=False).input_ids) == 1
    sharing = {}
    for size in (10, 1000):
        records = sharing_study.study_records(tokenizer, size)
        sharing[size] = [token_sharing(tokenizer, split_records(records, seed), scored_config())
                         for seed in (0, 1, 2)]
    assert min(sharing[10]) >= 0.9 and max(sharing[1000]) <= 0.3


@pytest.mark.integration
def test_the_study_has_a_row_per_pool_seed_and_method_with_its_sharing(monkeypatch):
    from revs.experiments.results import Results, rows_for
    from revs.model import load_tokenizer

    calls = []

    def evaluate(method, dataset, seeds, *, records, parts, **kwargs):
        calls.append((method, dataset, len(records), tuple(parts)))
        values = {("efficacy", 100): 1.0, ("generality", 100): 0.5, ("specificity", None): 0.25,
                  ("unlearning_score", 100): 0.4, ("efficacy", 10): 0.0}
        return Results([row for s in seeds for row in rows_for(method, dataset, s, values)],
                       [{"seed": s, "config_source": f"from {method}"} for s in seeds])

    monkeypatch.setattr(sharing_study, "evaluate", evaluate)
    study = sharing_study.sharing_study((10, 30), ("revs", "memit"), seeds=(0, 1), n_subjects=6)
    assert calls == [(m, f"passphrases-{p}", 30, ("effectiveness",))
                     for p in (10, 30) for m in ("revs", "memit")]
    assert len(study) == 8 and set(study.settings) == {"swept on passphrases"}  # not as stored
    assert (study.efficacy == 1.0).all() and (study.specificity == 0.25).all()
    tokenizer = load_tokenizer()
    records = sharing_study.study_records(tokenizer, 30, n_subjects=6)
    expected = token_sharing(tokenizer, split_records(records, 1), scored_config())
    assert study[(study.pool_size == 30) & (study.seed == 1)].token_sharing.eq(expected).all()
    table = sharing_study.summary(study)
    assert list(table.index) == [(p, m) for p in (10, 30) for m in ("revs", "memit")]
    assert list(table.columns) == ["token sharing", "efficacy", "generality", "specificity",
                                   "unlearning score"]


def test_placebo_gap_pairs_each_split_and_reads_its_trend():
    rows = [(10, 1.0, 0.1), (100, 0.5, 0.6), (1000, 0.1, 0.95)]
    study = pd.concat([_study(rows), _study([(p, s, 1.0) for p, s, _ in rows])
                       .assign(method="random-neurons"),
                       _study([(30, 0.9, 0.5)])])  # no placebo on this split: left out
    gaps = sharing_study.placebo_gap(study)
    assert list(gaps.pool_size) == [1000, 100, 10]
    assert gaps.gap.round(2).tolist() == [0.05, 0.4, 0.9]
    reading = sharing_study.placebo_reading(study)
    assert reading.startswith("specificity is 0.05 below the placebo's at token sharing 0.10 "
                              "and 0.90 below the placebo's at 1.00; over the 3 splits")
    assert "r = 1.00" in reading or "r = 0.99" in reading
    above = sharing_study.placebo_reading(study[study.pool_size == 1000].assign(
        specificity=lambda f: f.specificity.where(f.method == "revs", 0.5)))
    assert above == "specificity is 0.45 above the placebo's at token sharing 0.10"
    with pytest.raises(ValueError, match="no rows of 'random-neurons'"):
        sharing_study.placebo_gap(_study(rows))
    level = sharing_study.placebo_reading(_study([(1000, 0.0, 0.998)]).pipe(
        lambda f: pd.concat([f, f.assign(method="random-neurons", specificity=1.0)])))
    assert level == "specificity is the same as the placebo's at token sharing 0.00"


def test_best_by_pool_names_the_leader_of_each_pool_and_ties():
    study = pd.DataFrame([
        {"pool_size": p, "seed": seed, "method": m, "unlearning_score": v}
        for p, m, values in [(1000, "revs", (0.9, 0.8)), (1000, "memit", (0.5, 0.6)),
                             (10, "revs", (0.2, 0.4)), (10, "memit", (0.3, 0.3))]
        for seed, v in enumerate(values)])
    assert (sharing_study.best_by_pool(study)
            == "P = 10: revs and memit (0.30); P = 1,000: revs (0.85)")
