"""Capturing activations: the residual stream around each layer and its sub-module outputs.

``capture`` is a context manager: hooks go on when it is entered and are removed when it exits,
also on error. Inside it, run the model; afterwards ``acts[layer].<site>`` holds, per layer,

========================  ===================================  =======================
site                      what                                 shape
========================  ===================================  =======================
``residual_before``       input of the decoder layer           ``[batch, pos, d_model]``
``attention_out``         attention block output ``a_l``       ``[batch, pos, d_model]``
``mlp_activations``       input of the MLP output projection   ``[batch, pos, d_mlp]``
                          (the neuron activations ``u_l``)
``mlp_out``               MLP block output ``m_l``             ``[batch, pos, d_model]``
``residual_after``        output of the decoder layer          ``[batch, pos, d_model]``
========================  ===================================  =======================

so that ``residual_after == residual_before + attention_out + mlp_out`` for sequential and
parallel blocks alike. ``pos`` is 1 for ``positions="last"`` (the axis is kept, never squeezed:
the official code's ``.squeeze()`` broke one-token prompts, spec §8.2 #12).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .layout import ModelLayout, decoder_layers, get_layout, layer_module
from .tokens import pad_batch

__all__ = ["SITES", "Activations", "LayerActivations", "capture", "last_token_activations"]

SITES = ("residual_before", "attention_out", "mlp_activations", "mlp_out", "residual_after")

Positions = Literal["last", "all"] | torch.Tensor


@dataclass(frozen=True)
class LayerActivations:
    """What one decoder layer read and wrote during the captured forward pass."""

    residual_before: torch.Tensor  # [batch, pos, d_model]
    attention_out: torch.Tensor  # [batch, pos, d_model]
    mlp_activations: torch.Tensor  # [batch, pos, d_mlp]
    mlp_out: torch.Tensor  # [batch, pos, d_model]
    residual_after: torch.Tensor  # [batch, pos, d_model]


class Activations:
    """Activations recorded by :func:`capture`, indexed by layer then site.

    ``acts[layer]`` is a :class:`LayerActivations` when every site of that layer was captured;
    ``acts.get(layer, site)`` reads one site when only some were asked for.
    """

    def __init__(self, layers: list[int], sites: tuple[str, ...]):
        self.layers = layers
        self.sites = sites
        self._store: dict[tuple[int, str], torch.Tensor] = {}

    def get(self, layer: int, site: str) -> torch.Tensor:
        """One captured tensor; ``KeyError`` names what is missing and why it may be."""
        try:
            return self._store[(layer, site)]
        except KeyError:
            raise KeyError(
                f"no {site!r} captured for layer {layer}: captured layers {self.layers}, sites "
                f"{list(self.sites)}; was the model run inside the capture block (and not stopped "
                "before that layer)?"
            ) from None

    def __getitem__(self, layer: int) -> LayerActivations:
        return LayerActivations(**{site: self.get(layer, site) for site in SITES})

    def __contains__(self, layer: int) -> bool:
        return any((layer, site) in self._store for site in self.sites)


class _StopForward(Exception):
    """Raised by a hook to end the forward pass once the last needed layer is captured."""


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    # Modules may be called positionally or with keywords (newer transformers use kwargs).
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    raise RuntimeError("capture: the hooked module was called without a tensor input")


def _output_tensor(output) -> torch.Tensor:
    # Attention blocks and some layers return tuples whose first element is the hidden state.
    return output[0] if isinstance(output, tuple | list) else output


def _hook_points(model: nn.Module, layer: int, layout: ModelLayout) -> dict:
    """Site -> (module, "pre" to read its input | "post" to read its output)."""
    return {
        "residual_before": (decoder_layers(model, layout)[layer], "pre"),
        "attention_out": (layer_module(model, layer, "attention", layout), "post"),
        "mlp_activations": (layer_module(model, layer, "mlp_out", layout), "pre"),
        "mlp_out": (layer_module(model, layer, "mlp", layout), "post"),
        "residual_after": (decoder_layers(model, layout)[layer], "post"),
    }


def _register(module: nn.Module, when: str, record) -> torch.utils.hooks.RemovableHandle:
    if when == "pre":
        return module.register_forward_pre_hook(
            lambda mod, args, kwargs: record(_first_tensor(args, kwargs)), with_kwargs=True
        )
    return module.register_forward_hook(lambda mod, args, output: record(_output_tensor(output)))


def _select(x: torch.Tensor, positions: Positions, grad: bool) -> torch.Tensor:
    if isinstance(positions, torch.Tensor):
        rows = torch.arange(x.shape[0], device=x.device)
        x = x[rows, positions.to(x.device)].unsqueeze(1)
    elif positions == "last":
        x = x[:, -1:]  # a slice, not an index: keeps the pos axis
    # With grad, the tensor stays in the graph (a loss on it trains the model); otherwise a copy.
    return x if grad else x.detach().clone()


@contextlib.contextmanager
def capture(
    model: nn.Module,
    layers: Iterable[int] | None = None,
    *,
    positions: Positions = "last",
    sites: Iterable[str] = SITES,
    stop_after: int | None = None,
    grad: bool = False,
    layout: ModelLayout | None = None,
) -> Iterator[Activations]:
    """Record activations of ``layers`` (default: all) while the model runs inside the block.

    Args:
        model: a model whose architecture :mod:`revs.layout` knows.
        layers: layer indices to record.
        positions: ``"last"`` (the last position, kept as a length-1 axis: use left padding for
            batches of different lengths), ``"all"``, or an integer tensor ``[batch]`` giving one
            position per row.
        sites: which of :data:`SITES` to record.
        stop_after: end the forward pass right after this layer (the rest of the model does not
            run and the model's output is not returned); the block then exits normally.
        grad: keep the recorded tensors in the autograd graph, for losses on activations
            (the baselines' training); by default they are detached copies.
        layout: the model's layout, if already looked up.

    Yields:
        An :class:`Activations` filled in as the model runs. Running the model twice inside one
        block overwrites the first run's values.

    Example::

        with capture(model, [3]) as acts:
            model(input_ids)
        acts[3].mlp_activations  # [batch, 1, d_mlp]
    """
    layout = layout or get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    layers = list(range(n_layers)) if layers is None else sorted({int(i) for i in layers})
    sites = tuple(sites)
    unknown = set(sites) - set(SITES)
    if unknown:
        raise ValueError(f"unknown sites {sorted(unknown)}; choose from {list(SITES)}")
    for layer in layers + ([] if stop_after is None else [stop_after]):
        if not 0 <= layer < n_layers:
            raise IndexError(f"layer {layer} out of range: the model has {n_layers} layers")

    acts = Activations(layers, sites)

    def record(layer: int, site: str, tensor: torch.Tensor) -> None:
        acts._store[(layer, site)] = _select(tensor, positions, grad)

    handles = []
    try:
        for layer in layers:
            for site, (module, when) in _hook_points(model, layer, layout).items():
                if site in sites:
                    handles.append(_register(module, when, functools.partial(record, layer, site)))
        if stop_after is not None:
            def stop(module, args, output):
                raise _StopForward

            # Registered last, so the layer's own capture hooks run first.
            handles.append(decoder_layers(model, layout)[stop_after].register_forward_hook(stop))
        try:
            yield acts
        except _StopForward:
            pass
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def last_token_activations(
    model: nn.Module, prefixes: list[list[int]] | list[tuple[int, ...]], *,
    site: str = "mlp_activations", pad_id: int = 0, batch_size: int = 32,
) -> torch.Tensor:
    """``site`` of every layer at each prefix's last token. ``[n_layers, n_prefixes, width]``.

    Prefixes (token ids) are right-padded in batches and read at their own last position.
    """
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(prefixes), batch_size):
        ids, mask = pad_batch(list(prefixes[start : start + batch_size]), pad_id)
        with capture(model, sites=(site,), positions=mask.sum(1) - 1, stop_after=n_layers - 1,
                     layout=layout) as acts:
            model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        chunks.append(torch.stack([acts.get(layer, site)[:, 0] for layer in range(n_layers)]))
    return torch.cat(chunks, 1)
