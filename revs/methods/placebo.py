"""The placebo: REVS's own edits moved to random neurons of the same layers (a control).

REVS changes a few rows of the MLP output projections. Whether the damage it does to other
secrets (specificity) or to general text follows the *tokens* it demotes, or comes from changing
that many rows by that much anywhere, is told apart by this control: run REVS, undo its edits,
and apply the same per-row changes (same layers, same number of rows, the same delta vectors, in
the same order) to neurons drawn at random among the other neurons of each layer. A neuron REVS
edited twice maps to one random neuron, edited twice. Scored like any method, a placebo that
leaves specificity near the unedited model's says the testbed is not fragile: the damage of the
real edit is targeted.
"""

from __future__ import annotations

import time

import torch

from ..config import REVSConfig
from ..edit import NeuronEdit, apply_edits_, revert_edits_
from ..layout import get_layout, neuron_weights
from ..unlearn import unlearn
from .base import FunctionMethod, MethodRun

__all__ = ["RANDOM_NEURONS", "moved_to_random_neurons"]


def moved_to_random_neurons(model, edits: list[NeuronEdit], seed: int) -> list[NeuronEdit]:
    """``edits`` (not applied) with each neuron replaced by a random other neuron of its layer.

    The replacements are drawn once per layer, without replacement, among the neurons that no
    edit of that layer touches (so the placebo never changes a neuron REVS chose), from a local
    generator seeded with ``seed``. Returns the moved edits, each ``original`` read from the
    model as the edits before it leave it: apply them in order with
    :func:`revs.edit.apply_edits_`.
    """
    layout = get_layout(model)
    touched: dict[int, list[int]] = {}
    for edit in edits:
        touched.setdefault(edit.layer, [])
        touched[edit.layer] += [n for n in edit.neurons.tolist() if n not in touched[edit.layer]]
    generator = torch.Generator().manual_seed(seed)
    mapping: dict[int, dict[int, int]] = {}
    for layer in sorted(touched):
        d_mlp = neuron_weights(model, layer, layout).shape[0]
        chosen = set(touched[layer])
        others = torch.tensor([n for n in range(d_mlp) if n not in chosen], dtype=torch.long)
        if len(others) < len(chosen):
            raise ValueError(f"layer {layer}: REVS edited {len(chosen)} of its {d_mlp} neurons, "
                             "too many to move to as many others")
        picked = others[torch.randperm(len(others), generator=generator)[: len(chosen)]]
        mapping[layer] = dict(zip(touched[layer], picked.tolist(), strict=True))
    moved, done = [], []
    try:
        for edit in edits:
            rows = neuron_weights(model, edit.layer, layout)
            neurons = torch.tensor([mapping[edit.layer][n] for n in edit.neurons.tolist()],
                                   dtype=torch.long)
            new = NeuronEdit(edit.layer, neurons, edit.delta.clone(),
                             rows[neurons.to(rows.device)].detach().clone())
            apply_edits_(model, [new])  # the next edit's original rows include this one
            done.append(new)
            moved.append(new)
    finally:
        revert_edits_(model, done)
    return moved


def _random_neurons(model, tokenizer, forget, *, config: REVSConfig, seed) -> MethodRun:
    if not isinstance(config, REVSConfig):
        raise TypeError(f"random-neurons takes a REVSConfig, got {type(config).__name__}")
    start = time.perf_counter()
    result = unlearn(model, tokenizer, forget, config, progress=False)
    revert_edits_(model, result.edits)
    moved = moved_to_random_neurons(model, result.edits, seed)
    apply_edits_(model, moved)
    return MethodRun(
        seconds=time.perf_counter() - start,
        details={"layer_edits": len(moved), "neurons_edited": result.n_neurons,
                 "neurons_per_layer": {str(k): v for k, v in result.neurons_per_layer().items()}},
    )


RANDOM_NEURONS = FunctionMethod("random-neurons", REVSConfig, _random_neurons)
"""The placebo row of every comparison: REVS's edits (with REVS's settings) on random neurons."""
