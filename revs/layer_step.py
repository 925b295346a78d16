"""The paper's per-layer step: one token, one layer, one NeuronEdit (spec §2.3-2.6).

:func:`edit_layer` applies the layer rule (is the token still promoted here, and does this MLP
promote it?), selects the candidate neurons (:func:`revs.select.select_neurons`) and demotes the
token in as many of them as the bands ask for (:func:`demote_in_layer`: the rank demotion of
:func:`revs.demote.demote_rank` and the neuron-count search of
:func:`revs.demote.neuron_count_search`). It reads activations the caller computed and changes no
weight: :func:`revs.unlearn` applies the edit it returns and re-runs the layers above.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import REVSConfig
from .demote import Demotion, demote_rank, neuron_count_search
from .edit import NeuronEdit
from .hooks import LayerActivations
from .select import NeuronSelection, layer_skip_reason, select_neurons
from .vocab import VocabProjection, token_rank

__all__ = ["LayerDemotion", "LayerStep", "demote_in_layer", "edit_layer"]


@dataclass(frozen=True)
class LayerStep:
    """What the per-layer step decided for one token in one layer."""

    layer: int
    edit: NeuronEdit | None
    """The edit to apply, or ``None`` when the layer is left as it is."""
    skipped: str | None
    """Why no edit: ``residual`` (already demoted at this depth), ``mlp`` (this MLP does not
    promote the token), ``layers`` (not in ``config.layers``), ``no candidates`` (no neuron
    passes the activation filter) or ``unchanged`` (no candidate needed a change); ``None`` when
    there is an edit."""
    selection: NeuronSelection | None = None
    demotion: LayerDemotion | None = None


def edit_layer(
    projection: VocabProjection,
    *,
    layer: int,
    neuron_rows: torch.Tensor,
    activations: LayerActivations,
    residual_rank: int,
    mlp_rank: int,
    token_id: int,
    config: REVSConfig,
    contrast_activations: torch.Tensor | None = None,
) -> LayerStep:
    """The per-layer step of REVS for ``token_id`` in ``layer`` (paper §3).

    Args:
        projection: the model's vocabulary projection.
        layer: the layer's index.
        neuron_rows: its neuron vectors ``[d_mlp, d_model]`` (:func:`revs.layout.neuron_weights`);
            not modified.
        activations: the layer's captured activations on the prefix (batch of one), read at the
            prefix's last position.
        residual_rank: the token's logit-lens rank in the residual after the layer.
        mlp_rank: ... in the layer's MLP output (:func:`revs.lens.lens_ranks` gives both).
        token_id: the token to demote.
        config: the method's settings.
        contrast_activations: ``[n_contexts, d_mlp]`` for ``score_method="contrastive"``.
    """
    reason = layer_skip_reason(residual_rank, mlp_rank, config)
    if reason is None and config.layers is not None and layer not in config.layers:
        reason = "layers"
    if reason is not None:
        return LayerStep(layer, None, reason)
    neuron_acts = activations.mlp_activations[0, -1]  # [d_mlp]
    selection = select_neurons(neuron_acts, neuron_rows, projection, token_id, config,
                               contrast_activations=contrast_activations)
    if selection.neurons.numel() == 0:
        return LayerStep(layer, None, "no candidates", selection)
    demotion = demote_in_layer(
        projection, layer=layer, neuron_rows=neuron_rows, candidates=selection.neurons,
        activations=neuron_acts, mlp_out=activations.mlp_out[0, -1],
        residual=activations.residual_after[0, -1], token_id=token_id, config=config,
        candidate_logits=selection.logits,
    )
    return LayerStep(layer, demotion.edit, None if demotion.edit else "unchanged", selection,
                     demotion)


@dataclass(frozen=True)
class LayerDemotion:
    """The edit of one layer for one token, and the ranks that decided it."""

    edit: NeuronEdit | None
    """The neurons changed (candidates whose projection needed no change are left out); ``None``
    when no neuron changed."""
    counts: list[int]
    """Neuron counts tried (:func:`neuron_count_search`); the last was kept."""
    mlp_rank: tuple[int, int]
    """The token's rank in the layer's MLP output, before and after the edit."""
    residual_rank: tuple[int, int]
    """... and in the residual after the layer, before and after."""
    demotion: Demotion
    """The per-neuron demotion of all candidates."""


def demote_in_layer(
    projection: VocabProjection,
    *,
    layer: int,
    neuron_rows: torch.Tensor,
    candidates: torch.Tensor,
    activations: torch.Tensor,
    mlp_out: torch.Tensor,
    residual: torch.Tensor,
    token_id: int,
    config: REVSConfig,
    candidate_logits: torch.Tensor | None = None,
) -> LayerDemotion:
    """Demote ``token_id`` in as many of ``candidates`` as the bands ask for (spec §2.5-2.6).

    Every argument but the projection is keyword-only: three of them are ``[d_model]`` or
    ``[d_mlp]`` vectors that a positional call could swap without an error.

    Args:
        projection: the model's vocabulary projection.
        layer: the layer's index (recorded in the edit).
        neuron_rows: the layer's neuron vectors ``[d_mlp, d_model]``; not modified.
        candidates: neuron indices ``[n]``, best first (:func:`revs.select.select_neurons`).
        activations: neuron activations at the last position ``[d_mlp]``.
        mlp_out: the MLP output there ``[d_model]``.
        residual: the residual after the layer ``[d_model]``. An edit changes it and the MLP
            output by ``activations[S] @ delta``; nothing else in the layer depends on the
            output projection, so no forward pass is needed.
        token_id: the token to demote.
        config: bands, counts and iteration caps.
        candidate_logits: the candidates' vocabulary projections ``[n, d_vocab]``, if known.
    """
    candidates = candidates.to(neuron_rows.device)
    original = neuron_rows[candidates].clone()  # [n, d_model]
    demotion = demote_rank(projection, original, token_id, config, logits=candidate_logits)
    device = projection.device
    delta = demotion.delta.to(device)  # [n, d_model]
    acts = activations[candidates.to(activations.device)].to(device, torch.float32)  # [n]
    mlp = mlp_out.to(device, torch.float32)
    res = residual.to(device, torch.float32)

    # The MLP output and the residual after editing the best k candidates, for every k at once:
    # one pass over the unembedding instead of one per count tried.
    change = torch.cumsum(acts[:, None] * delta, 0)  # [n, d_model]
    change = torch.cat([torch.zeros_like(change[:1]), change])  # [n + 1, d_model]: k = 0..n
    logits = projection.project(torch.cat([mlp + change, res + change]))  # [2(n + 1), d_vocab]
    mlp_ranks, residual_ranks = token_rank(logits, token_id).view(2, -1).tolist()

    def ranks(count: int) -> tuple[int, int]:
        return mlp_ranks[count], residual_ranks[count]

    counts = neuron_count_search(ranks, len(candidates), config)
    before, after = ranks(0), ranks(counts[-1])
    keep = demotion.logit_step[: counts[-1]].ne(0).nonzero().flatten()  # neurons that change
    edit = None
    if keep.numel():
        keep_device = keep.to(candidates.device)
        edit = NeuronEdit(
            layer=layer,
            neurons=candidates[keep_device],
            delta=demotion.delta[keep_device].to(neuron_rows.device),
            original=original[keep_device],
        )
    return LayerDemotion(edit, counts, (before[0], after[0]), (before[1], after[1]), demotion)
