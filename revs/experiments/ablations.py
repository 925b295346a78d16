"""The book's ablations: REVS evaluated with one setting varied at a time (cached per run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pandas as pd

from ..config import REVSConfig
from .runner import evaluate

__all__ = ["ablation", "ablation_families"]


def ablation(variants: Mapping[str, Mapping], dataset: str = "ssn", *, seeds: Sequence[int] = (0,),
             settings=None, base: REVSConfig | None = None):
    """REVS evaluated with each variant's settings (:func:`revs.evaluate`, cached per run).

    ``variants`` maps a label to :class:`REVSConfig` overrides of ``base`` (default: the paper's
    settings). Returns the runner's tidy rows (``method .. value``) with a ``variant`` column.
    """
    base = base or REVSConfig()
    frames = []
    for label, overrides in variants.items():
        config = dataclasses.replace(base, **overrides)
        results = evaluate("revs", dataset, seeds, config=config, settings=settings)
        frames.append(results.frame().assign(variant=label))
    return pd.concat(frames, ignore_index=True)


def ablation_families(smoke: bool = False) -> dict[str, dict[str, dict]]:
    """The book's ablations: family -> variant label -> :class:`REVSConfig` overrides.

    Each family varies one setting around the paper's (always one of the variants); ``smoke``
    keeps two variants per family.
    """
    counts = [5, 30] if smoke else [5, 15, 30, 60]
    token_methods = ["rarest", "first"] if smoke else ["rarest", "frequent", "first", "last",
                                                       "random"]
    score_methods = ["rank", "activation"] if smoke else ["rank", "activation", "random",
                                                          "contrastive"]
    bands = [(30_000, 45_000), (45_000, 49_000)] if smoke else [
        (10_000, 20_000), (30_000, 45_000), (45_000, 49_000)]
    protected = [0, 10] if smoke else [0, 10, 50]
    return {
        "neurons per layer": {f"N = {n}": {"n_neurons": n} for n in counts},
        "token selection": {m: {"token_method": m} for m in token_methods},
        "neuron score": {"hybrid" if m == "rank" else m: {"score_method": m}
                         for m in score_methods},
        "neuron band": {f"{lo // 1000}k–{hi // 1000}k": {"neuron_band": (lo, hi)}
                        for lo, hi in bands},
        "protected tokens": {f"{m} held" if m else "none (paper)": {"protect_tokens": m}
                             for m in protected},
    }
