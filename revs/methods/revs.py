"""REVS itself (:func:`revs.unlearn`) and the unedited model, as methods of the comparison."""

from __future__ import annotations

import dataclasses
import time

from ..config import REVSConfig
from ..unlearn import unlearn
from .base import FunctionMethod, MethodRun

__all__ = ["REVS", "UNEDITED"]


def _unedited(model, tokenizer, forget, *, config, seed) -> MethodRun:
    return MethodRun(seconds=0.0)


def _revs(model, tokenizer, forget, *, config: REVSConfig, seed) -> MethodRun:
    if not isinstance(config, REVSConfig):
        raise TypeError(f"the revs method takes a REVSConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, seed=seed) if config.score_method == "random" else config
    start = time.perf_counter()
    result = unlearn(model, tokenizer, forget, config, progress=False)
    return MethodRun(
        seconds=time.perf_counter() - start,
        patch=result.patch,
        details={
            "layer_edits": len(result.edits),
            "neurons_edited": result.n_neurons,
            "forward_passes": result.forward_passes,
            "skipped_targets": result.skipped,
        },
    )


UNEDITED = FunctionMethod("unedited", lambda: None, _unedited)
"""The model as loaded: the reference row of every table."""
REVS = FunctionMethod("revs", REVSConfig, _revs)
"""REVS with a :class:`~revs.config.REVSConfig`; ``score_method="contrastive"`` contrasts each
target with the other targets of the run."""
