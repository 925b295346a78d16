"""Rank demotion of one token in the vocabulary projection of neurons (paper §3, spec §2.5-2.6).

For each neuron vector ``x`` the target's logit in ``LL(x)`` is lowered by ``-delta`` and the
edited logits are mapped back to a neuron vector ``x'``; ``delta`` is searched multiplicatively
(start ``initial_logit_step``, x``step_grow`` while the target still ranks above the band, x
``step_shrink`` once it falls past it) until the target's rank in ``LL(x')`` lies in the band.

Only the target logit changes, so the map back has a closed form (spec §1.3): in normalized space
``N(x') = N(x) + delta * pinv[:, t]``, and no ``d_vocab``-wide logits need to be inverted. When the
final norm is an RMSNorm and the unembedding has no bias, ``LL(x')`` is moreover a positive multiple
of ``LL(x) + delta * q`` with ``q = U pinv[:, t]`` (RMSNorm is scale-invariant), so each iteration
only compares ranks; otherwise each iteration projects the candidate vectors again.

Differences from the official code: the exact norm inverse (§8.2 #4), and neurons already at or
past the band's lower end are left exactly as they were (the official round trip moved them).

:func:`neuron_count_search` chooses how many of a layer's best-scored neurons to edit (start with
``initial_neurons``; more while the MLP output still promotes the token, fewer when it overshoots;
+-1 to bring the residual into its band); :func:`revs.layer_step.demote_in_layer` runs both on
one layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import REVSConfig
from .vocab import VocabProjection, token_rank

__all__ = ["Demotion", "demote_rank", "neuron_count_search"]


@dataclass(frozen=True)
class Demotion:
    """The result of :func:`demote_rank` for ``n_neurons`` neuron vectors."""

    delta: torch.Tensor  # [n_neurons, d_model] float32: new vector = old + delta
    rank_before: torch.Tensor  # [n_neurons] the target's rank in each neuron's projection
    rank_after: torch.Tensor  # [n_neurons] ... after the edit
    logit_step: torch.Tensor  # [n_neurons] the final change of the target logit (0: untouched)
    in_band: torch.Tensor  # [n_neurons] bool: no edit was needed, or the edit landed in the band
    iterations: int
    """Iterations run (the search stops when every neuron is in the band)."""


def demote_rank(
    projection: VocabProjection,
    neurons: torch.Tensor,
    target_id: int,
    config: REVSConfig,
    *,
    closed_form: bool = True,
    logits: torch.Tensor | None = None,
) -> Demotion:
    """Lower ``target_id`` into ``config.neuron_band`` in each neuron's vocabulary projection.

    Args:
        projection: the model's :class:`~revs.vocab.VocabProjection`.
        neurons: neuron vectors ``[n_neurons, d_model]`` (rows of ``neuron_weights``).
        target_id: the token to demote.
        config: supplies ``neuron_band``, ``max_iter_neuron``, ``initial_logit_step``,
            ``step_grow`` and ``step_shrink``.
        closed_form: rank the edited vectors from the closed form where it applies (RMSNorm, no
            unembedding bias); ``False`` re-projects them at every iteration (slower; a check).
        logits: the vectors' projection ``[n_neurons, d_vocab]`` if already computed
            (:attr:`revs.select.NeuronSelection.logits`).

    Returns:
        A :class:`Demotion`; the vectors themselves are not modified.
    """
    config.validate(projection.d_vocab)
    low, high = config.neuron_band
    x = neurons.to(projection.device, torch.float32)  # [n, d_model]
    normed = projection.normalize(x)  # [n, d_model]
    if logits is None:
        logits = normed @ projection.w_unembed.T  # [n, d_vocab]
        if projection.b_unembed is not None:
            logits = logits + projection.b_unembed
    elif logits.shape != (x.shape[0], projection.d_vocab):
        raise ValueError(f"logits must be [n_neurons, d_vocab] = [{x.shape[0]}, "
                         f"{projection.d_vocab}], got {list(logits.shape)}")
    rank_before = token_rank(logits, target_id)  # [n]
    step = torch.where(rank_before < low, config.initial_logit_step, 0.0)  # [n]
    # [d_model]: raises logit t by one (alone, or holding the protected tokens fixed)
    direction, _ = projection.demotion_direction(target_id, config.protect_tokens)
    fast = closed_form and projection.scale_invariant
    if fast:
        q = projection.demotion_effect(target_id, config.protect_tokens)  # [d_vocab]

    def rank_after(rows: torch.Tensor, step: torch.Tensor) -> torch.Tensor:  # [len(rows)]
        if fast:
            return token_rank(logits[rows] + step[:, None] * q, target_id)
        edited = projection.denormalize(normed[rows] + step[:, None] * direction, x[rows])
        return token_rank(projection.project(edited), target_id)

    # Each neuron's search is its own: a neuron whose step is 0 or whose rank is in the band keeps
    # its step (and so its rank) from then on, so only the others are ranked again. The result is
    # the same as ranking every neuron at every iteration, at a fraction of the cost.
    rank = rank_before.clone()
    active = step.ne(0).nonzero().flatten()  # [n_active] neurons still searching
    iterations = 0
    while iterations < config.max_iter_neuron:
        iterations += 1
        last_step = step.clone()
        if active.numel():
            rank[active] = rank_after(active, step[active])
        inside = (rank >= low) & (rank <= high)
        if bool((inside | step.eq(0)).all()):
            break
        step = torch.where(rank < low, step * config.step_grow, step)
        step = torch.where(rank > high, step * config.step_shrink, step)
        active = (~inside & step.ne(0)).nonzero().flatten()
    # As the official code: the result is the last vector computed, before the final rescaling.
    edited = projection.denormalize(normed + last_step[:, None] * direction, x)
    delta = torch.where(last_step[:, None].eq(0), torch.zeros_like(x), edited - x)
    return Demotion(
        delta=delta.to(neurons.device),
        rank_before=rank_before.to(neurons.device),
        rank_after=torch.where(last_step.eq(0), rank_before, rank).to(neurons.device),
        logit_step=last_step.to(neurons.device),
        in_band=(last_step.eq(0) | ((rank >= low) & (rank <= high))).to(neurons.device),
        iterations=iterations,
    )


def neuron_count_search(
    evaluate: Callable[[int], tuple[int, int]], n_candidates: int, config: REVSConfig
) -> list[int]:
    """The neuron counts tried in one layer, in order; the last is the one kept (spec §2.6).

    ``evaluate(k)`` returns ``(mlp_rank, residual_rank)`` of the token after editing the best
    ``k`` candidates. The search stops when both ranks lie in their bands, when a count repeats
    (the first count may be tried twice, as in the official code) or after ``max_iter_mlp``
    evaluations. With 30 candidates and an MLP that keeps promoting the token: 5, 8, 12, 19, 30.
    """
    if n_candidates < 1:
        raise ValueError("neuron_count_search needs at least one candidate neuron")
    mlp_low, mlp_high = config.mlp_band
    res_low, res_high = config.residual_band
    count, tried, trajectory = config.initial_neurons, set(), []
    for _ in range(config.max_iter_mlp):
        count = min(count, n_candidates)
        trajectory.append(count)
        mlp_rank, residual_rank = evaluate(count)
        if mlp_low <= mlp_rank <= mlp_high:
            if res_low <= residual_rank <= res_high:
                break
            count = min(count + 1, n_candidates) if residual_rank < res_low else max(count - 1, 1)
        elif mlp_rank < mlp_low:
            count = int(min(config.grow_factor * count, n_candidates))
        else:
            count = int(max(config.shrink_factor * count, 2))
        if count in tried:
            break
        tried.add(count)
    return trajectory
