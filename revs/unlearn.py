"""``unlearn``: REVS over many secrets, sequentially and cumulatively (paper §3, spec §2.2).

For each target, for each of its selected tokens, for each layer in ascending order: read the
layer's activations at the prefix's last position under the current weights, apply the layer rule,
select neurons, demote the token in them with the adaptive neuron count, and write the edit at
once, so later layers, tokens and targets see it. If anything fails, every edit of the call is
reverted before the error propagates: the model is left as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .bf16 import bf16_matmuls
from .config import REVSConfig
from .data.records import Record
from .edit import NeuronEdit, apply_edits_, revert_edits_
from .forward import PrefixForward
from .hooks import last_token_activations
from .layer_step import edit_layer
from .layout import decoder_layers, get_layout, neuron_weights
from .lens import lens_ranks, token_ranks
from .patch import Patch, model_fingerprint, target_hashes
from .targets import TargetToken, tokens_for
from .vocab import vocab_projection

__all__ = ["TokenReport", "UnlearnResult", "plan_tokens", "unlearn"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenReport:
    """What happened to one selected token of one target."""

    target: int
    """Index of the target in the ``targets`` given to :func:`unlearn`."""
    position: int
    """The token's position in the secret."""
    token_id: int
    text: str
    rank_before: int
    """The token's rank in the model's output after its prefix, before the call."""
    rank_after: int
    """... after every edit of the call."""
    neurons: dict[int, int]
    """Layer -> neurons changed there for this token."""


@dataclass
class UnlearnResult:
    """Edits made by :func:`unlearn` (already applied to the model), and how they were found."""

    edits: list[NeuronEdit]
    tokens: list[TokenReport]
    config: REVSConfig
    seconds: float
    layers_run: int
    """Decoder layers computed by the editing passes (``/ n_layers``: full-pass equivalents)."""
    n_layers: int
    forward_calls: int
    """Forward calls of the editing passes (most re-run only the layers above an edit)."""
    patch: Patch
    skipped: list[int] = field(default_factory=list)
    """Targets left unedited: their tokens were already demoted in every layer."""

    @property
    def forward_passes(self) -> float:
        """Full forward-pass equivalents used while editing."""
        return self.layers_run / self.n_layers

    def neurons_per_layer(self) -> dict[int, int]:
        """Layer -> distinct neurons edited there (a neuron edited twice counts once)."""
        per_layer: dict[int, set[int]] = {}
        for edit in self.edits:
            per_layer.setdefault(edit.layer, set()).update(edit.neurons.tolist())
        return {layer: len(per_layer[layer]) for layer in sorted(per_layer)}

    @property
    def n_neurons(self) -> int:
        """Distinct (layer, neuron) pairs edited."""
        return sum(self.neurons_per_layer().values())


def plan_tokens(
    tokenizer, targets: Sequence[Record], config: REVSConfig, *,
    labels: Sequence[str] | None = None,
) -> list[tuple[int, TargetToken]]:
    """``(target index, token)`` pairs to unlearn, in editing order; checks every target first.

    ``labels`` name the targets in messages (default ``target 0``, ``target 1``...; a command
    passes the file's rows).

    Raises:
        ValueError: no targets, duplicate targets, an empty secret, or a secret with nothing left
            by its token rule (``record.rule``); the message names the target.
    """
    if not targets:
        raise ValueError("no targets to unlearn: give at least one (prompt, secret) record")
    labels = [f"target {i}" for i in range(len(targets))] if labels is None else list(labels)
    seen: dict[tuple[str, str], int] = {}
    for i, record in enumerate(targets):
        key = (record.prompt, record.target)
        if key in seen:
            raise ValueError(f"{labels[seen[key]]} and {labels[i]} are the same prompt and "
                             "secret; give each once")
        seen[key] = i
    plan = []
    for i, record in enumerate(targets):
        try:
            tokens = tokens_for(tokenizer, record, config)
        except ValueError as error:
            raise ValueError(f"{labels[i]}: {error}") from None
        plan.extend((i, token) for token in tokens)
    return plan


@torch.no_grad()
def _contrast_activations(
    model: nn.Module, tokenizer, plan: Sequence[tuple[int, TargetToken]],
    targets: Sequence[Record], contrast: Sequence[Record], config: REVSConfig,
) -> list[torch.Tensor]:
    """Per planned token: ``[n_layers, n_contexts, d_mlp]`` activations on contrast contexts.

    A contrast context is a prefix of another secret (from ``targets`` or ``contrast``) before
    any of its candidate tokens (every token its rule leaves, not only the selected ones):
    where the model is about to write part of someone else's secret. Read once,
    on the model as it is before editing.
    """
    pool = list(targets) + list(contrast)
    every = dataclasses.replace(config, max_tokens=None, token_method="first")
    contexts = [(record.target, token) for record in pool
                for _, token in plan_tokens(tokenizer, [record], every)]
    stacked = last_token_activations(model, [token.prefix_ids for _, token in contexts],
                                     pad_id=tokenizer.pad_token_id or 0)
    # [n_layers, n_contexts, d_mlp]
    secrets = [secret for secret, _ in contexts]
    contrasts = []
    for target, _ in plan:
        others = [j for j, secret in enumerate(secrets) if secret != targets[target].target]
        if not others:
            raise ValueError(
                "score_method='contrastive' needs other secrets to contrast with: unlearn "
                "several targets together or pass contrast=[records of other secrets]"
            )
        contrasts.append(stacked[:, others])
    return contrasts


def _unlearn_token(
    model: nn.Module, forward: PrefixForward, token: TargetToken, config: REVSConfig, *,
    layout, projection, contrast: torch.Tensor | None, edits: list[NeuronEdit], target: int,
) -> dict[int, int]:
    """Every layer in ascending order for one token; each edit is applied at once (spec §2.2).

    Later layers are read under the edited weights: ``forward`` re-runs only the layers above an
    edit. Each edit is appended to ``edits`` as soon as it is applied, so that a caller can
    revert them if a later step fails. Returns layer -> neurons changed for this token.
    """
    changed: dict[int, int] = {}
    lens_pass, lens = -1, {}
    # The layer rule compares these ranks with two band ends only (spec §2.3).
    thresholds = ((config.residual_band[0],), (config.mlp_band[1],))
    for layer in range(len(forward.layers)):
        activations = forward[layer]  # re-runs this layer and those above after an edit below
        if forward.passes != lens_pass:  # new activations: rank every layer they reach
            lens_pass = forward.passes
            lens = lens_ranks(forward, range(layer, forward.fresh), projection, token.token_id,
                              thresholds=thresholds)
        residual_rank, mlp_rank = lens[layer]
        step = edit_layer(
            projection, layer=layer, neuron_rows=neuron_weights(model, layer, layout),
            activations=activations, residual_rank=residual_rank, mlp_rank=mlp_rank,
            token_id=token.token_id, config=config,
            contrast_activations=None if contrast is None else contrast[layer],
        )
        if step.edit is None:
            continue
        apply_edits_(model, [step.edit])
        edits.append(step.edit)
        forward.invalidate(layer)
        changed[layer] = len(step.edit.neurons)
        logger.debug("target %d token %r layer %d: %d neurons (counts %s), residual rank %d -> %d",
                     target, token.text, layer, changed[layer], step.demotion.counts,
                     *step.demotion.residual_rank)
    return changed


@torch.no_grad()
def unlearn(
    model: nn.Module,
    tokenizer,
    targets: Sequence[Record],
    config: REVSConfig | None = None,
    *,
    contrast: Sequence[Record] = (),
    progress: bool = True,
) -> UnlearnResult:
    """Unlearn each target's secret from ``model`` with REVS; the model is edited in place.

    Args:
        model: a decoder model whose architecture :mod:`revs.layout` knows (any dtype; may be
            spread over devices).
        tokenizer: its tokenizer.
        targets: records (prompt, secret): the secret's selected tokens are demoted after the
            prompt. A file of them: :func:`revs.data.load_records`.
        config: the method's settings (default :class:`REVSConfig`).
        contrast: records of *other* secrets of the same kind (never unlearned), for
            ``score_method="contrastive"``: with the other targets, they show which neurons
            fire whenever any such secret is written.
        progress: show a progress bar (one step per target token).

    Returns:
        An :class:`UnlearnResult`; ``result.patch`` can be saved, and reverted with
        ``revs.revert_edits_(model, result.edits)``.

    Raises:
        ValueError: bad targets or settings (checked before any weight changes), or an edit that
            cannot be computed; in every case the model is left untouched.
    """
    config = config or REVSConfig()
    start_time = time.perf_counter()
    layout = get_layout(model)
    projection = vocab_projection(model)
    n_layers = len(decoder_layers(model, layout))
    config.validate(projection.d_vocab, n_layers)
    targets = list(targets)
    plan = plan_tokens(tokenizer, targets, config)
    fingerprint = model_fingerprint(model)
    pad_id = tokenizer.pad_token_id or 0
    weight = next(model.parameters())
    products = bf16_matmuls(weight.device, weight.dtype)  # bfloat16 weights, no bf16 units
    edits: list[NeuronEdit] = []
    per_token: list[dict[int, int]] = []
    layers_run = calls = 0
    with products:
        try:
            ranks_before = token_ranks(model, [t for _, t in plan], pad_id=pad_id)[:, 0]
            contrasts = (_contrast_activations(model, tokenizer, plan, targets, contrast, config)
                         if config.score_method == "contrastive" else None)
            bar = tqdm(plan, desc="REVS", unit="token", disable=not progress)
            for i, (target, token) in enumerate(bar):
                bar.set_postfix(target=target, token=repr(token.text))
                forward = PrefixForward(model, token.prefix_ids, layout)
                per_token.append(_unlearn_token(
                    model, forward, token, config, layout=layout, projection=projection,
                    contrast=None if contrasts is None else contrasts[i], edits=edits,
                    target=target))
                layers_run += forward.layers_run
                calls += forward.passes
            bar.close()
            ranks_after = token_ranks(model, [t for _, t in plan], pad_id=pad_id)[:, 0]
        except BaseException:
            revert_edits_(model, edits)
            raise

    reports = [
        TokenReport(target, token.position, token.token_id, token.text,
                    int(ranks_before[i]), int(ranks_after[i]), per_token[i])
        for i, (target, token) in enumerate(plan)
    ]
    edited_targets = {r.target for r in reports if r.neurons}
    skipped = [i for i in range(len(targets)) if i not in edited_targets]
    for i in skipped:  # stacklevel 3: past torch.no_grad's wrapper, to the caller
        warnings.warn(
            f"nothing to unlearn for target {i}: no layer needed an edit (its selected tokens "
            f"rank at or below {config.residual_band[0]} in the residual, or no MLP promotes "
            "them); the model was not changed for it", stacklevel=3,
        )
    return UnlearnResult(
        edits=edits, tokens=reports, config=config, seconds=time.perf_counter() - start_time,
        layers_run=layers_run, n_layers=n_layers, forward_calls=calls,
        patch=Patch(edits=edits, config=config, fingerprint=fingerprint,
                    targets=target_hashes(targets)),
        skipped=skipped,
    )
