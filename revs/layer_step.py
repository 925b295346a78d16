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

    ``residual_rank`` and ``mlp_rank`` need only be exact as far as the layer rule's comparisons
    with ``config.residual_band[0]`` and ``config.mlp_band[1]`` go.
    """
    reason = layer_skip_reason(residual_rank, mlp_rank, config)
    if reason is None and config.layers is not None and layer not in config.layers:
        reason = "layers"
    if reason is not None:
        return LayerStep(layer, None, reason)
    neuron_acts = activations.mlp_activations[0, -1]  # [d_mlp]
    mlp_out, residual = activations.mlp_out[0, -1], activations.residual_after[0, -1]
    # The count search reads LL(mlp_out) and LL(residual): projected with the candidates.
    selection = select_neurons(neuron_acts, neuron_rows, projection, token_id, config,
                               contrast_activations=contrast_activations,
                               also_project=torch.stack([mlp_out, residual]))
    if selection.neurons.numel() == 0:
        return LayerStep(layer, None, "no candidates", selection)
    demotion = demote_in_layer(
        projection, layer=layer, neuron_rows=neuron_rows, candidates=selection.neurons,
        activations=neuron_acts, mlp_out=mlp_out, residual=residual, token_id=token_id,
        config=config, candidate_logits=selection.logits, mlp_logits=selection.also_logits[0],
        residual_logits=selection.also_logits[1],
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
    """The per-neuron demotion of the candidates the count search reached (the best ones, at
    least those of the last count kept)."""


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
    mlp_logits: torch.Tensor | None = None,
    residual_logits: torch.Tensor | None = None,
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
        mlp_logits: ``LL(mlp_out)`` ``[d_vocab]``, if known (``select_neurons(...,
            also_project=...)`` computes it with the candidates' projections).
        residual_logits: ``LL(residual)`` ``[d_vocab]``, likewise.

    Only the candidates the count search reaches are demoted (the search usually stops at a few
    of them), and where the final norm is an RMSNorm and the unembedding has no bias the ranks
    for every count come from the two projections above, without projecting again: see
    :func:`_count_ranks`.
    """
    candidates = candidates.to(neuron_rows.device)
    original = neuron_rows[candidates].clone()  # [n, d_model]
    device = projection.device
    acts = activations[candidates.to(activations.device)].to(device, torch.float32)  # [n]
    lazy = _LazyDemotion(projection, original, token_id, config, candidate_logits)
    if projection.scale_invariant:
        if mlp_logits is None or residual_logits is None:
            mlp_logits, residual_logits = projection.project(
                torch.stack([mlp_out, residual]).to(device))
        vectors = torch.stack([mlp_out, residual]).to(device, torch.float32)  # [2, d_model]
        base = torch.stack([mlp_logits, residual_logits]).to(device, torch.float32)
        ranks = _count_ranks(projection, lazy, acts, vectors, base, token_id)
    else:
        ranks = _projected_count_ranks(projection, lazy, acts, mlp_out, residual, token_id)

    counts = neuron_count_search(ranks, len(candidates), config)
    before, after = ranks(0), ranks(counts[-1])
    demotion = lazy.result()
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


class _LazyDemotion:
    """:func:`demote_rank` of the best candidates, run only as far as the count search reaches.

    Each neuron's demotion depends on that neuron alone, so demoting the candidates in chunks
    gives each the same result as demoting all of them at once.
    """

    def __init__(self, projection, rows, token_id, config, logits):
        self.projection, self.rows, self.token_id, self.config = projection, rows, token_id, config
        self.logits = logits
        self.parts: list[Demotion] = []
        self.done = 0

    def upto(self, count: int) -> None:
        """Demote candidates ``0 .. count - 1`` (those not demoted yet)."""
        count = min(count, self.rows.shape[0])
        if count <= self.done:
            return
        # At least the initial count, then in growing chunks: fewer, larger unembedding passes.
        end = min(self.rows.shape[0], max(count, 2 * self.done, self.config.initial_neurons))
        logits = None if self.logits is None else self.logits[self.done:end]
        self.parts.append(demote_rank(self.projection, self.rows[self.done:end], self.token_id,
                                      self.config, logits=logits))
        self.done = end

    def result(self) -> Demotion:
        """The demotion of every candidate demoted so far (at least one)."""
        self.upto(1)
        if len(self.parts) == 1:
            return self.parts[0]
        return Demotion(
            delta=torch.cat([p.delta for p in self.parts]),
            rank_before=torch.cat([p.rank_before for p in self.parts]),
            rank_after=torch.cat([p.rank_after for p in self.parts]),
            logit_step=torch.cat([p.logit_step for p in self.parts]),
            in_band=torch.cat([p.in_band for p in self.parts]),
            iterations=max(p.iterations for p in self.parts),
        )


def _count_ranks(projection, lazy, acts, vectors, base, token_id):
    """``count -> (MLP rank, residual rank)`` after editing the best ``count`` candidates.

    With an RMSNorm ``N`` and no unembedding bias, demoting neuron ``i`` by logit step ``s_i``
    changes it by ``delta_i = s_i * rms(x_i) * d / g`` (``d`` the demotion direction, ``g`` the
    norm's weight), so editing the best ``k`` changes a vector ``v`` (MLP output or residual) by
    ``c_k * d / g`` with ``c_k = sum_{i<k} a_i s_i rms(x_i)``, and ``U N(v + c_k d / g)`` is a
    positive multiple of ``LL(v) + c_k / rms(v) * q`` with ``q = U d``. The ranks for every
    count are read from ``LL(v)`` and ``q`` alone: no unembedding pass per count.
    """
    q = projection.demotion_effect(token_id, lazy.config.protect_tokens)  # [d_vocab]
    _, vector_scale = projection._statistics(vectors)  # [2, 1]
    _, row_scale = projection._statistics(lazy.rows.to(projection.device, torch.float32))
    row_scale = row_scale[:, 0]  # [n]: rms of each candidate's row, read once
    cache: dict[int, tuple[int, int]] = {}

    def ranks(count: int) -> tuple[int, int]:
        if count not in cache:
            if count == 0:
                logits = base
            else:
                lazy.upto(count)
                steps = torch.cat([p.logit_step for p in lazy.parts])[:count]  # [count]
                shift = (acts[:count] * steps * row_scale[:count]).sum()
                logits = base + (shift / vector_scale) * q  # [2, d_vocab]
            mlp_rank, residual_rank = token_rank(logits, token_id).tolist()
            cache[count] = (mlp_rank, residual_rank)
        return cache[count]

    return ranks


def _projected_count_ranks(projection, lazy, acts, mlp_out, residual, token_id):
    """The same map for any final norm, by projecting.

    The MLP output and the residual after editing the best ``k`` candidates are projected for
    every ``k`` at once (one pass over the unembedding).
    """
    lazy.upto(lazy.rows.shape[0])
    delta = lazy.result().delta.to(projection.device)  # [n, d_model]
    mlp = mlp_out.to(projection.device, torch.float32)
    res = residual.to(projection.device, torch.float32)
    change = torch.cumsum(acts[:, None] * delta, 0)  # [n, d_model]
    change = torch.cat([torch.zeros_like(change[:1]), change])  # [n + 1, d_model]: k = 0..n
    logits = projection.project(torch.cat([mlp + change, res + change]))  # [2(n + 1), d_vocab]
    mlp_ranks, residual_ranks = token_rank(logits, token_id).view(2, -1).tolist()
    return lambda count: (mlp_ranks[count], residual_ranks[count])
