"""The controlled study of shared tokens: when is REVS specific?

REVS lowers a token's rank in the neurons that write it, so a retained secret written with the
same token is put at risk. On SSNs every secret is made of the same ten digit tokens; realistic
e-mail handles share few. This study varies that and nothing else: passphrases of
:data:`WORDS_PER_SECRET` words from a pool of P words (:mod:`revs.data.passphrases`), each word one
token of the model's vocabulary (:func:`token_pool`), P from ten (every phrase shares its words
with almost every other, as SSNs) to a thousand. Each pool's testbed is memorized like the
others; every method runs with the settings its sweep chose on the passphrase validation
testbed (other words and people, P = :data:`revs.experiments.tuning.PASSPHRASE_VALIDATION`'s,
:func:`revs.experiments.tuning.tuned_on`; the placebo with REVS's), the same at every P, through
:func:`revs.evaluate` (cached per run), scored on efficacy, generality and specificity; the
x axis is the token sharing measured on each split (:func:`revs.sharing.token_sharing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..data import split_records
from ..evaluation.scoring import EvalSettings, scored_config
from ..model import load_tokenizer
from ..resources import data_path
from ..sharing import token_sharing
from .passphrase_pools import (
    POOL_SIZES,
    SMOKE_POOL_SIZES,
    WORDS_PER_SECRET,
    study_records,
    token_pool,
)
from .runner import evaluate, run_config

__all__ = ["METHODS", "POOL_SIZES", "SMOKE_POOL_SIZES", "STORE", "WORDS_PER_SECRET",
           "best_by_pool", "placebo_gap", "placebo_reading", "sharing_study", "study_records",
           "summary", "token_pool", "verdict"]

METHODS = ("revs", "memit", "npo-kl", "random-neurons")
"""REVS, a locate-and-edit baseline, a fine-tuning one, and the placebo (REVS's edits moved to
random neurons of the same layers)."""
STORE = data_path("results", "runs", "sharing-study")
"""The book's finished runs (:func:`revs.evaluate`'s ``store``): the full study takes about an
hour on two CPU cores, more than a machine's cache outlives, so it is kept with the repository
and resumed where it stopped."""
SCORES = ("efficacy", "generality", "specificity", "unlearning_score")


def sharing_study(pool_sizes: Sequence[int] = POOL_SIZES, methods: Sequence[str] = METHODS, *,
                  seeds: Sequence[int] = (0,), n_subjects: int = 20,
                  settings: EvalSettings | None = None, model: str | None = None,
                  store: str | Path | None = None,
                  compute_missing: bool = True) -> pd.DataFrame:
    """Every method on every pool's testbed, one row per (pool, split seed, method).

    ``store``: a folder of finished runs to reuse and add to (the book's: :data:`STORE`);
    ``compute_missing=False`` leaves out the runs not finished yet instead of computing them.

    Columns: ``pool_size``, ``seed``, ``token_sharing`` (of the split, REVS's two rarest
    tokens: what every method unlearns and every score reads), ``method``, :data:`SCORES` (at
    the first of ``settings.ks``) and ``settings`` (where the method's config comes from today,
    :func:`~.runner.run_config`: ``swept on passphrases`` or ``defaults``).
    """
    settings = settings or EvalSettings(ks=(100,), n_subjects=n_subjects, max_new_tokens=24)
    tokenizer = load_tokenizer(model)
    k = settings.ks[0]
    rows = []
    for size in pool_sizes:
        records = study_records(tokenizer, size, n_subjects=n_subjects)
        sharing = {seed: token_sharing(tokenizer, split_records(records, seed, settings.n_forget),
                                       scored_config(None)) for seed in seeds}
        for method in methods:
            # Where today's config comes from: a stored run is reused whenever its config is the
            # same, even if another sweep chose it then (its own record says which).
            source = run_config(method, f"passphrases-{size}", model=model)[1]
            results = evaluate(method, f"passphrases-{size}", seeds, model=model,
                               settings=settings, parts=("effectiveness",), records=records,
                               store=store, compute_missing=compute_missing)
            rows.extend({"pool_size": size, "seed": seed, "token_sharing": sharing[seed],
                         "method": method, **scores, "settings": source}
                        for seed, scores in results.seed_scores(SCORES, k).items())
    return pd.DataFrame(rows)


def summary(study: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds: one row per pool size and method, token sharing and :data:`SCORES`."""
    means = study.groupby(["pool_size", "method"], sort=False)[
        ["token_sharing", *SCORES]].mean()
    means.index.names = ["pool size P", "method"]
    return means.rename(columns=lambda name: name.replace("_", " "))


def verdict(study: pd.DataFrame, method: str = "revs", *, metric: str = "specificity",
            threshold: float = 0.8) -> str:
    """Where ``method`` keeps ``metric`` at ``threshold`` or more, in words, from the data.

    E.g. "specificity is at least 0.80 on every pool with token sharing up to 0.40 and below it
    on every pool from 0.60".

    Means over seeds per pool; the sentence names the token sharing of the pools on each side
    (and says so when the two sides overlap).
    """
    means = (study[study.method == method].groupby("pool_size")[["token_sharing", metric]]
             .mean().sort_values("token_sharing"))
    if means.empty:
        raise ValueError(f"no rows of {method!r} in the study")
    good = means[means[metric] >= threshold]
    bad = means[means[metric] < threshold]

    def shares(part: pd.DataFrame) -> str:
        return ", ".join(f"{s:.2f}" for s in part.token_sharing)

    what = f"{metric.replace('_', ' ')} is at least {threshold:.2f}"
    if bad.empty:
        return f"{what} on every pool (token sharing {shares(good)})"
    if good.empty:
        return f"{what} on no pool (token sharing {shares(bad)}: below it on all)"
    if good.token_sharing.max() < bad.token_sharing.min():
        return (f"{what} on every pool with token sharing up to {good.token_sharing.max():.2f} "
                f"and below it on every pool from {bad.token_sharing.min():.2f}")
    return (f"{what} on the pools with token sharing {shares(good)} and below it on those with "
            f"{shares(bad)}: no single sharing level separates them")


def best_by_pool(study: pd.DataFrame, metric: str = "unlearning_score") -> str:
    """The method with the highest mean ``metric`` on each pool, in words (ties named together).

    E.g. "P = 10: memit (0.35); P = 1,000: revs (0.88)", pools in increasing size.
    """
    means = study.groupby(["pool_size", "method"], sort=False)[metric].mean().round(2)
    parts = []
    for size, values in means.groupby(level="pool_size"):
        values = values.droplevel("pool_size")
        best = values[values == values.max()]
        parts.append(f"P = {size:,}: {' and '.join(best.index)} ({best.iloc[0]:.2f})")
    return "; ".join(parts)


def placebo_gap(study: pd.DataFrame, method: str = "revs", *, control: str = "random-neurons",
                metric: str = "specificity") -> pd.DataFrame:
    """What ``method`` loses against the placebo on each split: the damage that follows tokens.

    One row per (pool, split seed) where both ran: ``pool_size``, ``seed``, ``token_sharing``,
    ``metric`` of each (columns named by method) and ``gap`` = control minus method. The placebo
    makes the same number of edits of the same size in the same layers, away from the secret's
    tokens, so what it loses is the cost of editing at all.
    """
    for name in (method, control):
        if not (study.method == name).any():
            raise ValueError(f"no rows of {name!r} in the study")
    wide = (study[study.method.isin([method, control])]
            .pivot_table(index=["pool_size", "seed", "token_sharing"], columns="method",
                         values=metric).dropna().reset_index())
    wide.columns.name = None
    return wide.assign(gap=wide[control] - wide[method]).sort_values(
        ["token_sharing", "pool_size", "seed"], ignore_index=True)


def placebo_reading(study: pd.DataFrame, method: str = "revs", *,
                    control: str = "random-neurons", metric: str = "specificity") -> str:
    """:func:`placebo_gap` in words.

    The mean gap at the lowest and the highest token sharing, and how closely the gap follows
    token sharing across splits (Pearson's r, from 3 splits with more than one sharing level).
    """
    gaps = placebo_gap(study, method, control=control, metric=metric)
    if gaps.empty:
        raise ValueError(f"{method!r} and {control!r} share no split of the study")
    by_sharing = gaps.groupby("token_sharing").gap.mean()

    def gap_words(value: float) -> str:
        if round(value, 2) == 0:
            return "the same as the placebo's"
        side = "below" if value > 0 else "above"
        return f"{abs(value):.2f} {side} the placebo's"

    name = metric.replace("_", " ")
    low, high = by_sharing.index.min(), by_sharing.index.max()
    words = f"{name} is {gap_words(by_sharing[low])} at token sharing {low:.2f}"
    if high > low:
        words += f" and {gap_words(by_sharing[high])} at {high:.2f}"
    if len(gaps) >= 3 and gaps.token_sharing.nunique() > 1 and gaps.gap.nunique() > 1:
        r = gaps.token_sharing.corr(gaps.gap)
        words += (f"; over the {len(gaps)} splits the gap and the token sharing correlate at "
                  f"r = {r:.2f} (Pearson)")
    return words


def main(argv: Sequence[str] | None = None) -> None:
    """Run (or read back from the store) the study; print its summary and verdicts."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m revs.experiments.sharing_study",
                                     description=main.__doc__)
    parser.add_argument("--pools", nargs="+", type=int, default=list(POOL_SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--store", default=str(STORE),
                        help="finished runs to reuse and add to ('' for none)")
    parser.add_argument("--finished-only", action="store_true",
                        help="compute nothing: show the runs finished so far")
    args = parser.parse_args(argv)
    study = sharing_study(args.pools, args.methods, seeds=args.seeds, n_subjects=args.subjects,
                          store=args.store or None, compute_missing=not args.finished_only)
    if study.empty:
        raise SystemExit("no finished runs of the study in the store yet")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(summary(study).round(2))
    for method in study.method.unique():
        print(f"{method}: {verdict(study, method)}; {verdict(study, method, metric='efficacy')}")
    print(f"highest unlearning score: {best_by_pool(study)}")
    if {"revs", "random-neurons"} <= set(study.method):  # the placebo moves REVS's edits
        print(f"revs against its placebo: {placebo_reading(study)}")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main()
