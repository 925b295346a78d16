"""Edits as values: which neurons of which layer change, by how much, and what they were before.

Computing an edit never touches the model. :func:`apply_edits_` writes edits into the MLP output
projections (the only weights REVS changes), :func:`revert_edits_` restores the recorded original
rows bit for bit, and :func:`applied` does both around a block. Edits are applied in order and
reverted in reverse order, so a neuron edited twice (by two targets) comes back exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .layout import decoder_layers, get_layout, neuron_weights

__all__ = ["NeuronEdit", "applied", "apply_edits_", "revert_edits_"]


@dataclass(frozen=True)
class NeuronEdit:
    """New values for some neurons (rows of ``neuron_weights``) of one layer."""

    layer: int
    neurons: torch.Tensor  # [n_neurons] int64, distinct
    delta: torch.Tensor  # [n_neurons, d_model] float32: new row = original row + delta
    original: torch.Tensor  # [n_neurons, d_model] the rows before the edit, in the model's dtype

    @property
    def edited(self) -> torch.Tensor:
        """The rows after the edit, in the original's dtype. ``[n_neurons, d_model]``."""
        return (self.original.float() + self.delta.to(self.original.device)).to(self.original.dtype)


def _check(model: nn.Module, edits: Sequence[NeuronEdit]) -> None:
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    for i, edit in enumerate(edits):
        if not 0 <= edit.layer < n_layers:
            raise ValueError(f"edit {i}: layer {edit.layer} outside the model's {n_layers} layers")
        rows = neuron_weights(model, edit.layer, layout)  # [d_mlp, d_model]
        n = edit.neurons.shape[0] if edit.neurons.ndim == 1 else -1
        expected = (n, rows.shape[1])
        if n < 0 or tuple(edit.delta.shape) != expected or tuple(edit.original.shape) != expected:
            raise ValueError(
                f"edit {i}: neurons {tuple(edit.neurons.shape)}, delta {tuple(edit.delta.shape)} "
                f"and original {tuple(edit.original.shape)} must be [n], [n, {rows.shape[1]}], "
                f"[n, {rows.shape[1]}]"
            )
        if n and (edit.neurons.min() < 0 or edit.neurons.max() >= rows.shape[0]):
            raise ValueError(f"edit {i}: neuron indices outside [0, {rows.shape[0]})")
        if edit.neurons.unique().numel() != n:
            raise ValueError(f"edit {i}: neuron indices repeat; give each neuron once per edit")
        if not torch.isfinite(edit.delta).all():
            raise ValueError(f"edit {i}: delta has non-finite values")


def apply_edits_(model: nn.Module, edits: Sequence[NeuronEdit]) -> None:
    """Write ``edits`` into ``model`` in order (in place).

    Every edit is checked before any is written, so a bad edit leaves the model untouched. An
    edit whose neurons no longer hold its ``original`` rows (already applied, or computed on
    another state of the model) is refused.
    """
    _check(model, edits)
    layout = get_layout(model)
    done: list[NeuronEdit] = []
    try:
        for i, edit in enumerate(edits):
            rows = neuron_weights(model, edit.layer, layout)
            index = edit.neurons.to(rows.device)
            if not torch.equal(rows[index], edit.original.to(rows.device)):
                raise ValueError(
                    f"edit {i} (layer {edit.layer}) does not match the model: its neurons no "
                    "longer hold the rows it was computed from (already applied, or computed on "
                    "another state of the model)"
                )
            with torch.no_grad():
                rows[index] = edit.edited.to(rows.device)
            done.append(edit)
    except BaseException:
        revert_edits_(model, done)
        raise


def revert_edits_(model: nn.Module, edits: Sequence[NeuronEdit]) -> None:
    """Restore the rows ``edits`` changed, in reverse order: bit-exact (in place)."""
    layout = get_layout(model)
    for edit in reversed(edits):
        rows = neuron_weights(model, edit.layer, layout)
        with torch.no_grad():
            rows[edit.neurons.to(rows.device)] = edit.original.to(rows.device)


@contextlib.contextmanager
def applied(model: nn.Module, edits: Sequence[NeuronEdit]) -> Iterator[nn.Module]:
    """Apply ``edits`` for the duration of the block, and revert them afterwards, also on error."""
    apply_edits_(model, edits)
    try:
        yield model
    finally:
        revert_edits_(model, edits)
