"""Forward passes of one prefix that re-run only the layers an edit can have changed.

REVS edits layers in ascending order and needs fresh activations after each edit (spec §2.2).
An edit of layer ``l``'s output projection changes nothing below ``l``, so :class:`PrefixForward`
keeps every decoder layer's output from the last pass and, on the next one, replays the outputs of
the layers below the first edited layer instead of computing them. The replayed values are the
very tensors those layers produced, so the result equals a full forward pass bit for bit.

A pass also stops early: right after an edit the next layer is often edited too, and the layers
above it would be computed for nothing. The first pass runs every layer; after an edit a pass
runs two layers (the edited one and the next), and each further pass without an edit in between
runs twice as many as the one before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from .hooks import LayerActivations, capture
from .layout import ModelLayout, decoder_layers, get_layout

__all__ = ["PrefixForward"]


@contextlib.contextmanager
def _replaying(layers: Sequence[nn.Module], outputs: Sequence[object]) -> Iterator[None]:
    """Make each of ``layers`` return its recorded output instead of computing it."""
    saved = []
    for layer, output in zip(layers, outputs, strict=True):
        # An instance attribute may already wrap forward (accelerate's device hooks): keep it.
        saved.append(layer.__dict__.get("forward"))
        layer.forward = lambda *args, _output=output, **kwargs: _output
    try:
        yield
    finally:
        for layer, previous in zip(layers, saved, strict=True):
            if previous is None:
                del layer.forward
            else:
                layer.forward = previous


class PrefixForward:
    """Last-position activations of every layer for one prompt, kept fresh across edits.

    ``forward[layer]`` returns the :class:`~revs.hooks.LayerActivations` of ``layer`` (each site
    ``[1, 1, width]``) under the model's current weights, provided :meth:`invalidate` was called
    with the lowest layer edited since the last pass.
    """

    def __init__(self, model: nn.Module, ids: Sequence[int], layout: ModelLayout | None = None):
        self.model = model
        self.layout = layout or get_layout(model)
        self.layers = decoder_layers(model, self.layout)
        device = next(model.parameters()).device
        self.ids = torch.tensor([list(ids)], device=device)  # [1, pos]
        self._outputs: list[object] = []
        self._acts: list[LayerActivations] = []
        self.fresh = 0
        """Layers ``0 .. fresh - 1`` hold valid activations."""
        self._span = len(self.layers)  # layers the next pass runs
        self.layers_run = 0
        """Decoder layers computed so far (``/ n_layers`` = forward-pass equivalents)."""
        self.passes = 0

    def invalidate(self, layer: int) -> None:
        """Layer ``layer``'s weights changed: it and every layer above must run again."""
        if layer < self.fresh:
            self.fresh = layer
            self._span = 2

    def __getitem__(self, layer: int) -> LayerActivations:
        if not 0 <= layer < len(self.layers):
            raise IndexError(f"layer {layer} out of range: the model has {len(self.layers)}")
        if layer >= self.fresh:
            self._run(min(len(self.layers), max(layer + 1, self.fresh + self._span)))
            self._span *= 2
        return self._acts[layer]

    @torch.no_grad()
    def _run(self, end: int) -> None:
        """Compute layers ``fresh .. end - 1``, replaying those below."""
        start = self.fresh
        outputs: dict[int, object] = {}
        handles = [
            self.layers[i].register_forward_hook(
                lambda module, args, output, i=i: outputs.__setitem__(i, output)
            )
            for i in range(start, end)
        ]
        try:
            with _replaying(self.layers[:start], self._outputs[:start]), capture(
                self.model, range(start, end), stop_after=end - 1, layout=self.layout
            ) as acts:
                self.model(input_ids=self.ids, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
        self._outputs = self._outputs[:start] + [outputs[i] for i in range(start, end)]
        self._acts = self._acts[:start] + [acts[i] for i in range(start, end)]
        self.fresh = end
        self.layers_run += end - start
        self.passes += 1
