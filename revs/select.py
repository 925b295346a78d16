"""Which layers and which neurons REVS edits for one target token (paper §3, spec §2.3-2.4).

*Layer rule*: a layer is edited only while the token is still highly ranked in the residual
stream after it (rank below the residual band's lower end) and its MLP output promotes the token
(rank below the MLP band's upper end).

*Neuron selection* (the paper's "hybrid" score): of the neurons most activated at the prompt's
last position, keep the ``n_neurons`` whose vocabulary projection ranks the token highest.
``activation`` and ``random`` scores are the paper's ablations. ``contrastive`` is ours (not in
the paper, offered beside it): the same candidates, ordered by how much more they fire for this
prompt than for *contrast* contexts (other prompts at the same point of their secret), among
those whose projection ranks the token in the top ``contrast_rank`` tokens. Neurons that fire on
every SSN context carry digits in general; editing them forgets other people's SSNs too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import REVSConfig
from .vocab import VocabProjection, token_rank

__all__ = ["NeuronSelection", "layer_skip_reason", "select_neurons"]


def layer_skip_reason(residual_rank: int, mlp_rank: int, config: REVSConfig) -> str | None:
    """Why the layer is not edited, or ``None`` when it is (spec §2.3).

    ``residual_rank``: the token's rank in the logit lens of the residual after the layer;
    ``mlp_rank``: its rank in the logit lens of the layer's MLP output.
    """
    if residual_rank >= config.residual_band[0]:
        return "residual"  # already demoted enough at this depth
    if mlp_rank >= config.mlp_band[1]:
        return "mlp"  # this MLP does not promote the token
    return None


@dataclass(frozen=True)
class NeuronSelection:
    """Candidate neurons of one layer for one token, best first."""

    neurons: torch.Tensor  # [n] int64 indices into d_mlp, best first
    scores: torch.Tensor  # [n] float32: the score each was ordered by
    token_ranks: torch.Tensor  # [n] int64: the token's rank in each neuron's projection
    logits: torch.Tensor | None = None
    """``[n, d_vocab]`` float32: each neuron's vocabulary projection (reused by the demotion)."""
    also_logits: torch.Tensor | None = None
    """``[m, d_vocab]`` float32: ``LL`` of the ``also_project`` vectors, if any were given."""


def _candidates(activations: torch.Tensor, config: REVSConfig) -> torch.Tensor:
    if config.act_filter == "positive":
        # nonzero().flatten() keeps a 1-d index even for a single hit (spec §8.2 #10)
        return (activations > 0).nonzero().flatten()
    k = min(int(config.act_filter), activations.shape[0])
    return torch.topk(activations, k).indices  # signed activations, as the official top_K


def select_neurons(
    activations: torch.Tensor,
    neuron_rows: torch.Tensor,
    projection: VocabProjection,
    token_id: int,
    config: REVSConfig,
    *,
    contrast_activations: torch.Tensor | None = None,
    also_project: torch.Tensor | None = None,
) -> NeuronSelection:
    """The (at most) ``config.n_neurons`` neurons to edit for ``token_id``, best first.

    Args:
        activations: neuron activations at the prompt's last position, ``[d_mlp]``.
        neuron_rows: the layer's neuron vectors, ``[d_mlp, d_model]`` (``neuron_weights``).
        projection: the model's vocabulary projection.
        token_id: the token to demote.
        config: ``act_filter``, ``score_method``, ``n_neurons``, ``contrast_rank``, ``seed``.
        contrast_activations: ``[n_contexts, d_mlp]`` activations of the same layer on contrast
            contexts; required by ``score_method="contrastive"``, ignored otherwise.
        also_project: ``[m, d_model]`` vectors to project in the same pass over the unembedding
            as the candidates (one pass of ``n + m`` rows costs about as much as one of ``n``);
            their logits come back as ``also_logits``.

    Returns:
        A :class:`NeuronSelection` (empty when no neuron passes the activation filter).
    """
    method = config.score_method
    if method == "random":
        # The official ablation draws random scores over all neurons, without the filter.
        generator = torch.Generator().manual_seed(config.seed + token_id)
        scores = torch.rand(activations.shape[0], generator=generator)
        chosen = torch.topk(scores, min(config.n_neurons, scores.shape[0])).indices
        logits, ranks, also = _neuron_ranks(neuron_rows, chosen, projection, token_id,
                                            also_project)
        return NeuronSelection(chosen.to(activations.device), scores[chosen], ranks, logits, also)

    candidates = _candidates(activations, config)  # [n_candidates]
    if candidates.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=activations.device)
        return NeuronSelection(empty, empty.float(), empty)
    logits, ranks, also = _neuron_ranks(neuron_rows, candidates, projection, token_id,
                                        also_project)
    acts = activations[candidates].float()
    if method == "rank":
        scores, largest = ranks.float(), False
    elif method == "activation":
        scores, largest = acts, True
    elif method == "contrastive":
        if contrast_activations is None or contrast_activations.shape[0] == 0:
            raise ValueError(
                "score_method='contrastive' needs contrast contexts: unlearn several targets "
                "together, or pass contrast prompts"
            )
        background = contrast_activations[:, candidates.to(contrast_activations.device)]
        # How much more the neuron fires here than in the most similar other context.
        margin = acts - background.float().abs().amax(0).to(acts.device)  # [n_candidates]
        promotes = ranks < config.contrast_rank
        # Neurons that do not promote the token sort after every one that does.
        scores = torch.where(promotes, margin, margin - margin.abs().max() - 1e6)
        largest = True
    else:
        raise ValueError(f"unknown score_method {method!r}")
    order = torch.topk(scores, min(config.n_neurons, scores.shape[0]), largest=largest).indices
    return NeuronSelection(candidates[order], scores[order], ranks[order],
                           logits[order.to(logits.device)], also)


def _neuron_ranks(
    neuron_rows: torch.Tensor, index: torch.Tensor, projection: VocabProjection, token_id: int,
    also_project: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The indexed neurons' projections and the token's rank in each.

    Returns ``(logits [n, d_vocab], ranks [n], also_logits [m, d_vocab] or None)``.
    """
    rows = neuron_rows[index.to(neuron_rows.device)].to(projection.device)  # [n, d_model]
    if also_project is not None:
        rows = torch.cat([rows, also_project.to(projection.device, rows.dtype)])
    logits = projection.project(rows)
    also = None if also_project is None else logits[len(index):]
    logits = logits[: len(index)]
    return logits, token_rank(logits, token_id).to(index.device), also
