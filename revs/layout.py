"""Model layouts: where each architecture keeps the parts REVS reads and edits.

This is the only module that knows architecture names. Every other module asks a
:class:`ModelLayout` for the decoder layers, the MLP output projection (whose columns are the
"neurons" REVS edits), the attention block, the final norm and the unembedding.

Orientation is settled here once: :func:`neuron_weights` returns the output projection as
``[d_mlp, d_model]`` (one row per neuron) for every architecture, as a *view* of the parameter, so
writing into it edits the model. Hugging Face ``nn.Linear`` stores ``[d_model, d_mlp]`` and is
transposed; GPT-2's ``Conv1D`` already stores ``[d_mlp, d_model]``.

To support a new architecture, add a row to :data:`LAYOUTS` keyed by ``model.config.model_type``
and run the layout tests (``tests/test_layout.py``) on a tiny random model of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = [
    "LAYOUTS",
    "FinalNorm",
    "ModelLayout",
    "UnsupportedModelError",
    "config_dimensions",
    "decoder_layers",
    "dimensions",
    "final_norm",
    "get_layout",
    "layer_module",
    "neuron_weights",
    "unembedding",
]


class UnsupportedModelError(NotImplementedError):
    """The model's architecture has no row in :data:`LAYOUTS`."""


@dataclass(frozen=True)
class ModelLayout:
    """Where one architecture keeps the modules REVS needs.

    Paths are dotted attribute paths; those of per-layer modules are relative to one decoder layer.
    A path may list alternatives separated by ``|`` where transformers versions differ.
    """

    layers: str
    """Path of the ``ModuleList`` of decoder layers, from the model root."""
    attention: str
    """Attention block, relative to a layer; its output (first element if a tuple) is ``a_l``."""
    mlp: str
    """MLP block, relative to a layer; its output is ``m_l``."""
    mlp_out: str
    """MLP output projection, relative to a layer; its input is the neuron activations ``u_l``."""
    mlp_out_transposed: bool
    """True when the projection's weight is stored ``[d_mlp, d_model]`` (GPT-2 ``Conv1D``)."""
    final_norm: str
    """Final norm before the unembedding, from the model root."""
    norm_kind: Literal["rms", "layer"]
    """``"rms"``: ``g * x / sqrt(mean(x^2) + eps)``;
    ``"layer"``: ``g * (x - mu) / sqrt(var + eps) + b``."""
    norm_eps: str
    """Attribute of the final norm holding its epsilon."""
    unembed: str
    """Unembedding (``nn.Linear``, weight ``[d_vocab, d_model]``, optional bias), from the root."""
    parallel_block: bool = False
    """Attention and MLP read the same layer input (GPT-J, GPT-NeoX): documentation only, the
    residual identity ``after = before + attention + mlp`` holds either way."""


_LLAMA_LIKE = ModelLayout(
    layers="model.layers",
    attention="self_attn",
    mlp="mlp",
    mlp_out="mlp.down_proj",
    mlp_out_transposed=False,
    final_norm="model.norm",
    norm_kind="rms",
    norm_eps="variance_epsilon",
    unembed="lm_head",
)

LAYOUTS: dict[str, ModelLayout] = {
    # SmolLM2, Llama-2/3 and the decoders that copied Llama's module names.
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gptj": ModelLayout(
        layers="transformer.h",
        attention="attn",
        mlp="mlp",
        mlp_out="mlp.fc_out",
        mlp_out_transposed=False,
        final_norm="transformer.ln_f",
        norm_kind="layer",
        norm_eps="eps",
        unembed="lm_head",
        parallel_block=True,
    ),
    "gpt2": ModelLayout(
        layers="transformer.h",
        attention="attn",
        mlp="mlp",
        mlp_out="mlp.c_proj",
        mlp_out_transposed=True,
        final_norm="transformer.ln_f",
        norm_kind="layer",
        norm_eps="eps",
        unembed="lm_head",
    ),
    "gpt_neox": ModelLayout(
        layers="gpt_neox.layers",
        attention="attention",
        mlp="mlp",
        mlp_out="mlp.dense_4h_to_h",
        mlp_out_transposed=False,
        final_norm="gpt_neox.final_layer_norm",
        norm_kind="layer",
        norm_eps="eps",
        unembed="lm_head|embed_out",  # transformers 5 renamed embed_out to lm_head
        parallel_block=True,  # the default use_parallel_residual=True; sequential also works
    ),
}


def config_dimensions(config) -> dict[str, int | None]:
    """``n_layers``, ``context`` (most positions) and ``d_vocab`` from a model's config alone.

    For checks made before the weights are loaded (Hugging Face configs map these names for every
    architecture here; ``context`` is ``None`` when the config has no limit).

    Raises:
        UnsupportedModelError: the config's ``model_type`` has no layout row.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in LAYOUTS:
        raise UnsupportedModelError(
            f"revs does not know the layout of model type {model_type!r} (known: "
            f"{', '.join(sorted(LAYOUTS))})")
    return {"n_layers": config.num_hidden_layers,
            "context": getattr(config, "max_position_embeddings", None),
            "d_vocab": config.vocab_size}


def get_layout(model: nn.Module) -> ModelLayout:
    """Return the layout of ``model``, looked up by ``model.config.model_type``.

    Raises:
        UnsupportedModelError: the architecture has no row; the message says how to add one.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in LAYOUTS:
        known = ", ".join(sorted(LAYOUTS))
        raise UnsupportedModelError(
            f"revs does not know the layout of model type {model_type!r} (known: {known}). "
            "Add a ModelLayout row for it to revs.layout.LAYOUTS naming its decoder layers, "
            "attention, MLP, MLP output projection, final norm and unembedding, then run "
            "tests/test_layout.py on a tiny random model of that architecture."
        )
    return LAYOUTS[model_type]


def _resolve(root: nn.Module, path: str) -> nn.Module:
    alternatives = path.split("|")
    for candidate in alternatives:
        try:
            return root.get_submodule(candidate)
        except AttributeError:
            continue
    raise AttributeError(
        f"{type(root).__name__} has no module at {' or '.join(alternatives)}: its layout row in "
        "revs.layout.LAYOUTS does not match this version of the model class"
    )


def decoder_layers(model: nn.Module, layout: ModelLayout | None = None) -> nn.ModuleList:
    """The model's decoder layers, in order."""
    layout = layout or get_layout(model)
    return _resolve(model, layout.layers)  # type: ignore[return-value]


def layer_module(
    model: nn.Module, layer: int, part: str, layout: ModelLayout | None = None
) -> nn.Module:
    """Sub-module ``part`` (``"attention"``, ``"mlp"`` or ``"mlp_out"``) of a decoder layer."""
    layout = layout or get_layout(model)
    layers = decoder_layers(model, layout)
    if not -len(layers) <= layer < len(layers):
        raise IndexError(f"layer {layer} out of range: the model has {len(layers)} layers")
    return _resolve(layers[layer], getattr(layout, part))


def neuron_weights(model: nn.Module, layer: int, layout: ModelLayout | None = None) -> torch.Tensor:
    """The MLP output projection of ``layer`` as ``[d_mlp, d_model]``: row ``i`` is neuron ``i``.

    The result is a view of the parameter's storage (sharing its version counter): in-place
    writes edit the model.
    """
    layout = layout or get_layout(model)
    weight = layer_module(model, layer, "mlp_out", layout).weight.detach()
    return weight if layout.mlp_out_transposed else weight.T


@dataclass(frozen=True)
class FinalNorm:
    """The final norm's parameters, read from the model (tensors keep the model's dtype/device)."""

    kind: Literal["rms", "layer"]
    weight: torch.Tensor  # [d_model]
    bias: torch.Tensor | None  # [d_model] or None
    eps: float


def final_norm(model: nn.Module, layout: ModelLayout | None = None) -> FinalNorm:
    """Read the final norm's kind, weight, bias and epsilon."""
    layout = layout or get_layout(model)
    norm = _resolve(model, layout.final_norm)
    bias = getattr(norm, "bias", None)
    return FinalNorm(
        kind=layout.norm_kind,
        weight=norm.weight.detach(),
        bias=None if bias is None else bias.detach(),
        eps=float(getattr(norm, layout.norm_eps)),
    )


def unembedding(
    model: nn.Module, layout: ModelLayout | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The unembedding weight ``[d_vocab, d_model]`` and bias ``[d_vocab]`` (or None)."""
    layout = layout or get_layout(model)
    head = _resolve(model, layout.unembed)
    bias = getattr(head, "bias", None)
    return head.weight.detach(), None if bias is None else bias.detach()


def dimensions(model: nn.Module, layout: ModelLayout | None = None) -> dict[str, int]:
    """``n_layers``, ``d_model``, ``d_mlp`` and ``d_vocab``, read from the weights themselves."""
    layout = layout or get_layout(model)
    w_unembed, _ = unembedding(model, layout)
    neurons = neuron_weights(model, 0, layout)
    return {
        "n_layers": len(decoder_layers(model, layout)),
        "d_model": w_unembed.shape[1],
        "d_mlp": neurons.shape[0],
        "d_vocab": w_unembed.shape[0],
    }
