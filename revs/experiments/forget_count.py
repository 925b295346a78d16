"""How many secrets are forgotten at once: the protocol's half, and fewer or more.

The protocol (spec §5.1) forgets half of a testbed's subjects in one run. REVS edits the neurons
that write each forgotten secret's rarest tokens, so every secret added to the forget set adds
tokens a retained secret may hold, and the token sharing of the split
(:func:`revs.sharing.token_sharing`) grows with the count even on the e-mail testbed. This
study varies the forget count N and nothing else: the same testbed, the same split seeds (the
forget sets of one seed nest: the first N subjects of one shuffle), the same settings (each
method's sweep on the dataset, :func:`revs.experiments.tuning.tuned_config`), scored through
:func:`revs.evaluate` (cached per run) on efficacy, generality and specificity. The placebo
(``random-neurons``: REVS's edits moved to random neurons of the same layers) shows what editing
that many neurons costs away from the secrets' tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..data import load_dataset, split_records
from ..evaluation.scoring import EvalSettings, scored_config
from ..model import load_tokenizer
from ..resources import data_path
from ..sharing import token_sharing
from .runner import evaluate
from .sharing_study import SCORES

__all__ = ["COUNTS", "METHODS", "SMOKE_COUNTS", "STORE", "count_reading", "forget_count_study",
           "readings", "summary"]

COUNTS = (5, 10, 20, 30)
"""Subjects forgotten at once in the book's study, of the testbed's 40 (20: the protocol)."""
SMOKE_COUNTS = (1, 2)
METHODS = ("revs", "random-neurons")
STORE = data_path("results", "runs", "forget-count")
"""The book's finished runs (:func:`revs.evaluate`'s ``store``), kept with the repository."""


def forget_count_study(counts: Sequence[int] = COUNTS, methods: Sequence[str] = METHODS, *,
                       dataset: str = "emails", seeds: Sequence[int] = (0,),
                       settings: EvalSettings | None = None, model: str | None = None,
                       store: str | Path | None = None,
                       compute_missing: bool = True) -> pd.DataFrame:
    """Every method forgetting each count of subjects at once, one row per (N, seed, method).

    ``settings``: how to score (default: the protocol's, :class:`EvalSettings` at k = 100); its
    ``n_forget`` is replaced by each count. ``store`` / ``compute_missing``: as in
    :func:`revs.experiments.sharing_study.sharing_study`.

    Columns: ``n_forget``, ``n_subjects``, ``seed``, ``token_sharing`` (of the split, REVS's
    token rule: what every method unlearns and every score reads), ``method``,
    :data:`~revs.experiments.sharing_study.SCORES` (at the first of ``settings.ks``) and
    ``settings`` (where the method's config came from).
    """
    base = settings or EvalSettings(ks=(100,))
    counts = sorted(set(counts))
    if not counts or counts[0] < 1 or counts[-1] >= base.n_subjects:
        raise ValueError(f"counts must lie between 1 and {base.n_subjects - 1} (the testbed has "
                         f"{base.n_subjects} subjects), got {list(counts)}")
    tokenizer = load_tokenizer(model)
    records = load_dataset(dataset, n_subjects=base.n_subjects)
    k = base.ks[0]
    rows = []
    for count in counts:
        scored = dataclasses.replace(base, n_forget=count)
        sharing = {seed: token_sharing(tokenizer, split_records(records, seed, count),
                                       scored_config(None)) for seed in seeds}
        for method in methods:
            results = evaluate(method, dataset, seeds, model=model, settings=scored,
                               parts=("effectiveness",), store=store,
                               compute_missing=compute_missing)
            rows.extend({"n_forget": count, "n_subjects": base.n_subjects, "seed": seed,
                         "token_sharing": sharing[seed], "method": method, **scores}
                        for seed, scores in results.seed_scores(SCORES, k).items())
    return pd.DataFrame(rows)


def summary(study: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds: one row per forget count and method, token sharing and the scores."""
    means = study.groupby(["n_forget", "method"], sort=True)[["token_sharing", *SCORES]].mean()
    means.index.names = ["forgotten at once", "method"]
    return means.rename(columns=lambda name: name.replace("_", " "))


def count_reading(study: pd.DataFrame, method: str = "revs", *, metric: str = "specificity",
                  threshold: float = 0.8) -> str:
    """Up to how many secrets forgotten at once ``method`` keeps ``metric`` at ``threshold``.

    E.g. "specificity is at least 0.80 forgetting up to 10 of 40 subjects at once (token sharing
    up to 0.23) and below it from 20 (token sharing 0.40)". Means over seeds per count; when the
    counts above and below the threshold interleave, the sentence names both sets.
    """
    rows = study[study.method == method]
    if rows.empty:
        raise ValueError(f"no rows of {method!r} in the study")
    means = rows.groupby("n_forget")[["token_sharing", metric]].mean()
    subjects = "/".join(str(n) for n in sorted(rows.n_subjects.unique()))
    good = means[means[metric] >= threshold]
    bad = means[means[metric] < threshold]
    what = f"{metric.replace('_', ' ')} is at least {threshold:.2f}"

    def counts(part: pd.DataFrame) -> str:
        return ", ".join(str(n) for n in part.index)

    if bad.empty:
        return (f"{what} at every count forgotten at once ({counts(good)} of {subjects}; token "
                f"sharing up to {good.token_sharing.max():.2f})")
    if good.empty:
        return (f"{what} at no count forgotten at once ({counts(bad)} of {subjects}; token "
                f"sharing from {bad.token_sharing.min():.2f})")
    if good.index.max() < bad.index.min():
        return (f"{what} forgetting up to {good.index.max()} of {subjects} subjects at once "
                f"(token sharing up to {good.token_sharing.max():.2f}) and below it from "
                f"{bad.index.min()} (token sharing {bad.token_sharing.loc[bad.index.min()]:.2f})")
    return (f"{what} forgetting {counts(good)} of {subjects} subjects at once and below it "
            f"forgetting {counts(bad)}: no single count separates them")


def readings(study: pd.DataFrame, *, threshold: float = 0.8) -> dict[str, object]:
    """What the book states about the study, by name (values for ``myst_nb.glue``).

    ``counts`` and ``subjects``; ``settings`` (where REVS's config came from);
    ``reading_<method>`` / ``efficacy_<method>`` (:func:`count_reading` of specificity and
    efficacy, ``-`` in a method's name written ``_``); at the protocol's count (half the
    subjects, spec §5.1) ``protocol`` ("20 of 40"), the split's mean token sharing
    ``protocol_sharing`` and the mean specificity of REVS (``protocol_specificity``) and of
    the placebo (``protocol_placebo``), where the study has them.
    """
    subjects = int(study.n_subjects.iloc[0])
    values: dict[str, object] = {
        "counts": ", ".join(str(n) for n in sorted(study.n_forget.unique())),
        "subjects": subjects,
        "settings": study[study.method == "revs"].settings.iloc[0]}
    for method in study.method.unique():
        name = method.replace("-", "_")
        values[f"reading_{name}"] = count_reading(study, method, threshold=threshold)
        values[f"efficacy_{name}"] = count_reading(study, method, metric="efficacy",
                                                   threshold=threshold)
    protocol = study[study.n_forget == subjects // 2].groupby("method").mean(numeric_only=True)
    if not protocol.empty:
        values["protocol"] = f"{subjects // 2} of {subjects}"
        values["protocol_sharing"] = float(protocol.token_sharing.iloc[0])
        for method, key in (("revs", "protocol_specificity"),
                            ("random-neurons", "protocol_placebo")):
            if method in protocol.index:
                values[key] = float(protocol.specificity[method])
    return values


def main(argv: Sequence[str] | None = None) -> None:
    """Run (or read back from the store) the study; print its summary and readings."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m revs.experiments.forget_count",
                                     description=main.__doc__)
    parser.add_argument("--counts", nargs="+", type=int, default=list(COUNTS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--dataset", default="emails")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--store", default=str(STORE),
                        help="finished runs to reuse and add to ('' for none)")
    parser.add_argument("--finished-only", action="store_true",
                        help="compute nothing: show the runs finished so far")
    args = parser.parse_args(argv)
    study = forget_count_study(args.counts, args.methods, dataset=args.dataset, seeds=args.seeds,
                               store=args.store or None, compute_missing=not args.finished_only)
    if study.empty:
        raise SystemExit("no finished runs of the study in the store yet")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(summary(study).round(3))
    for method in study.method.unique():
        print(f"{method}: {count_reading(study, method)}; "
              f"{count_reading(study, method, metric='efficacy')}")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main()
