"""MEMIT adapted to unlearning, and the Max-Entropy and Head-Projection defenses (spec §6.2, §6.5).

All three share MEMIT's two stages. (1) For each forget request, a vector ``δ`` added to the output
of the last edited layer at the prefix's last token is optimized so that the model no longer
predicts the target (the *objective*), with MEMIT's KL and norm penalties, under a few context
templates. (2) The wanted outputs ``z = h + δ`` are spread over ``layers`` by least squares on the
MLP output projections, regularized by the keys' second moments ``C`` (:mod:`.second_moments`):
``ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹``.

Objectives (stage 1), at the last token of each context:

* ``delete`` (MEMIT): the target's probability at the model's output (the official unlearning
  adaptation's ``mode="delete"``);
* ``head-projection`` (Patil et al. 2023): ``mean_ℓ max(0, lens_ℓ[t] - kth-largest(lens_ℓ) +
  margin)`` over the logit lens of ``defense_layers``: pushes the target out of each layer's top k;
* ``max-entropy`` (Patil et al. 2023): minus the mean entropy of the logit-lens distributions of
  ``defense_layers``.

Choices (the official code has no Patil objectives, spec §6.5; these follow the spec's reading):
the defense layers default to the last edited layer and every layer after it (the only logit lenses
``δ`` can move); ``v_steps`` optimization steps are all taken (the official loop skips the last,
so its e-mail scripts' 1 step did nothing, spec §8.2 #22); the early stop compares the objective
alone (a negative entropy would stop at once) and max-entropy never stops early. Since only the
last position of a context depends on ``δ``, the rest is read once into a KV cache and each step
runs one token through the model.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.records import Record
from ..evaluation.generation import greedy_continuations, kv_forward
from ..hooks import capture
from ..layout import decoder_layers, get_layout, neuron_weights
from ..tokens import pad_batch
from ..vocab import vocab_projection
from .base import FunctionMethod, MethodRun
from .requests import forget_requests
from .second_moments import key_second_moments
from .training import training_only

__all__ = ["HEAD_PROJECTION", "MAX_ENTROPY", "MEMIT", "OBJECTIVES", "MEMITConfig", "memit"]

logger = logging.getLogger(__name__)

OBJECTIVES = ("delete", "head-projection", "max-entropy")
_TEMPLATE_STARTS = ("The", "Therefore", "Because", "I", "You")


@dataclass(frozen=True)
class MEMITConfig:
    """Settings of MEMIT and the defenses built on it (official GPT-J values unless noted)."""

    objective: str = "delete"
    """One of :data:`OBJECTIVES`."""
    layers: tuple[int, ...] = (3, 4, 5, 6, 7, 8)
    """MLP output projections that are edited; ``δ`` is found at the last of them."""
    v_lr: float = 0.5
    v_steps: int = 25
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75
    """``||δ||`` is kept below this times the unedited output's norm."""
    kl_factor: float = 0.0625
    """Weight of ``KL(p_δ || p)`` on the prefix followed by " is a"."""
    loss_break: float = 0.1
    """Stop a request's optimization once its objective is below this (delete, head-projection)."""
    mom2_weight: float = 15000.0
    """λ, the weight of the second moments against the new keys."""
    mom2_tokens: int = 20000
    """General-corpus tokens the second moments are read from (the official: Wikipedia, 100k
    samples; 20k tokens already exceed the 1,536 key dimensions of SmolLM2 tenfold)."""
    templates: int = 5
    """Context templates besides the bare prefix: greedy 10-token continuations of "The",
    "Therefore", "Because", "I", "You" (the official five)."""
    defense_layers: tuple[int, ...] | None = None
    """Layers whose logit lens the defense objectives read (None: last edited layer onwards)."""
    defense_k: int = 100
    """Head-projection: the target must leave this many top tokens."""
    margin: float = 1.0
    """Head-projection: logit margin below the k-th largest."""
    batch_requests: int = 8
    """Requests whose v* are searched side by side (memory grows with it: the defenses keep a
    logit lens per layer, context and request)."""


def _check(config: MEMITConfig, n_layers: int) -> None:
    if config.objective not in OBJECTIVES:
        raise ValueError(f"unknown MEMIT objective {config.objective!r}; choose one of "
                         f"{', '.join(OBJECTIVES)}")
    layers = config.layers
    if not layers or list(layers) != sorted(set(layers)) or not 0 <= layers[0] <= layers[-1] \
            < n_layers:
        raise ValueError(f"MEMIT layers must be increasing and within 0..{n_layers - 1}, got "
                         f"{layers}")
    defense = config.defense_layers or ()
    if any(not layers[-1] <= layer < n_layers for layer in defense):
        raise ValueError(f"defense_layers must be within {layers[-1]}..{n_layers - 1} (the "
                         f"logit lenses the edit can move), got {defense}")
    if config.v_steps < 1 or config.v_lr <= 0 or config.mom2_weight < 0 or config.templates < 0 \
            or config.batch_requests < 1:
        raise ValueError("MEMIT needs v_steps >= 1, v_lr > 0, mom2_weight >= 0, templates >= 0 "
                         "and batch_requests >= 1")


class _LastTokens:
    """Runs a batch of contexts whose only varying part is a short tail, reading the rest once.

    Each context is ``head + tail``; all tails have the same length. The heads are left-padded
    and read once into a KV cache; every call runs the tails on a copy of it.
    """

    def __init__(self, model: nn.Module, heads: Sequence[Sequence[int]],
                 tails: Sequence[Sequence[int]], pad_id: int):
        self.model = model
        device = next(model.parameters()).device
        width = max(len(h) for h in heads)
        self.tail_len = len(tails[0])
        self.tails = torch.tensor([list(t) for t in tails], device=device)
        tail_mask = torch.ones_like(self.tails)
        self.cache = None
        if width:
            ids, mask = pad_batch([list(h) or [pad_id] for h in heads], pad_id, side="left")
            for row, head in enumerate(heads):
                mask[row] = mask[row] * bool(head)  # an empty head is all padding
            ids, mask = ids.to(device), mask.to(device)
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            with torch.no_grad():
                _, self.cache = kv_forward(model, input_ids=ids, attention_mask=mask,
                                           position_ids=positions)
            self.mask = torch.cat([mask, tail_mask], 1)
        else:
            self.mask = tail_mask
        start = torch.tensor([len(h) for h in heads], device=device)[:, None]
        self.positions = start + torch.arange(self.tail_len, device=device)

    def __call__(self) -> torch.Tensor:
        """Logits at the tails' last position. ``[batch, d_vocab]``."""
        cache = copy.deepcopy(self.cache) if self.cache is not None else None
        out, _ = kv_forward(self.model, cache, input_ids=self.tails, attention_mask=self.mask,
                            position_ids=self.positions)
        return out.logits[:, -1].float()


def _add_at(model: nn.Module, layer: int, delta: torch.Tensor, position: int):
    """A hook adding ``delta`` to the output of ``layer`` at sequence ``position``."""
    def hook(module, args, output):
        hidden = output[0] if isinstance(output, tuple | list) else output
        shifted = hidden.clone()
        shifted[:, position] = shifted[:, position] + delta.to(hidden.dtype)
        return (shifted, *output[1:]) if isinstance(output, tuple | list) else shifted

    return decoder_layers(model)[layer].register_forward_hook(hook)


def _templates(model, tokenizer, count: int) -> list[list[int]]:
    """Token ids of the context templates: ``[]`` then ``count`` greedy ``"<start>... . "``."""
    starts = [_TEMPLATE_STARTS[i % len(_TEMPLATE_STARTS)] for i in range(count)]
    texts = greedy_continuations(model, tokenizer, starts, max_new_tokens=10) if starts else []
    return [[]] + [tokenizer(f"{s}{t}. ".replace("\n", " "), add_special_tokens=False).input_ids
                   for s, t in zip(starts, texts, strict=True)]


def _objectives(config, logits, lenses, token_ids) -> torch.Tensor:
    """Each request's objective, ``[n]``.

    Shapes: ``logits [n, contexts, d_vocab]``, ``lenses [n, contexts, layers, d_vocab]`` (the
    defenses only), ``token_ids [n]``.
    """
    if config.objective == "delete":
        probabilities = torch.softmax(logits, -1)
        return probabilities[torch.arange(len(token_ids)), :, token_ids].mean(-1)
    if config.objective == "head-projection":
        kth = lenses.topk(config.defense_k, -1).values[..., -1]  # [n, contexts, layers]
        target = lenses[torch.arange(len(token_ids)), ..., token_ids]
        return F.relu(target - kth + config.margin).mean((-1, -2))
    log_p = torch.log_softmax(lenses, -1)
    return (log_p.exp() * log_p).sum(-1).mean((-1, -2))  # minus the mean entropy


def _target_outputs(model, tokenizer, requests, templates, config, defense_layers) -> tuple:
    """MEMIT's v* for a batch of requests: outputs of the last edited layer that unlearn each.

    Every request has its own ``δ``; their losses are summed, so each gets its own gradient
    (Adam is elementwise, so this is the per-request search run side by side: the model's
    weights are read once per step for all of them, which is what costs on a CPU).

    Returns ``(z [n, d_model], one dict of figures per request)``.
    """
    z_layer, n, n_templates = config.layers[-1], len(requests), len(templates)
    pad = tokenizer.pad_token_id or 0
    prefixes = [list(r.prefix_ids) for r in requests]
    contexts = _LastTokens(model, [t + p[:-1] for p in prefixes for t in templates],
                           [p[-1:] for p in prefixes for _ in templates], pad)
    suffix = tokenizer(" is a", add_special_tokens=False).input_ids
    essence = _LastTokens(model, [p[:-1] for p in prefixes], [p[-1:] + suffix for p in prefixes],
                          pad)
    token_ids = torch.tensor([r.token_id for r in requests], device=contexts.tails.device)
    projection = vocab_projection(model)
    with torch.no_grad():
        with capture(model, [z_layer], sites=("residual_after",)) as acts:
            contexts()
        h_init = acts.get(z_layer, "residual_after")[::n_templates, -1].float()  # bare prefixes
        kl_init = torch.log_softmax(essence(), -1)
    delta = torch.zeros_like(h_init, requires_grad=True)  # [n, d_model]
    optimizer = torch.optim.Adam([delta], lr=config.v_lr)
    max_norm = config.clamp_norm_factor * h_init.norm(dim=1, keepdim=True)
    steps = torch.zeros(n, dtype=torch.long)
    active = torch.ones(n, dtype=torch.bool, device=delta.device)
    objective = torch.full((n,), float("nan"))
    for _ in range(config.v_steps):
        handle = _add_at(model, z_layer, delta.repeat_interleave(n_templates, 0), 0)
        try:
            with capture(model, defense_layers, sites=("residual_after",), grad=True) as acts:
                logits = contexts().view(n, n_templates, -1)
        finally:
            handle.remove()
        lenses = None
        if defense_layers:
            lenses = torch.stack([projection.project(acts.get(layer, "residual_after")[:, -1])
                                  for layer in defense_layers], 1)
            lenses = lenses.view(n, n_templates, len(defense_layers), -1)
        objectives = _objectives(config, logits, lenses, token_ids)
        kl = 0.0
        if config.kl_factor:
            handle = _add_at(model, z_layer, delta, 0)
            try:
                kl = F.kl_div(kl_init, torch.log_softmax(essence(), -1), log_target=True,
                              reduction="none").sum(-1)
            finally:
                handle.remove()
        objective = torch.where(active, objectives.detach(), objective.to(objectives))
        if config.objective != "max-entropy":
            active &= objectives.detach() >= config.loss_break  # stop before updating, as MEMIT
        if not active.any():
            break
        losses = (objectives + config.kl_factor * kl
                  + config.v_weight_decay * delta.norm(dim=1) / h_init.norm(dim=1) ** 2)
        before = delta.detach().clone()
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        with torch.no_grad():
            delta[~active] = before[~active]  # finished requests keep their δ
            delta.mul_((max_norm / delta.norm(dim=1, keepdim=True)).clamp(max=1.0))
        steps += active.cpu()
    ratios = (delta.norm(dim=1) / h_init.norm(dim=1)).tolist()
    details = [{"steps": int(s), "objective": float(o), "delta_norm_ratio": r}
               for s, o, r in zip(steps, objective.cpu(), ratios, strict=True)]
    return (h_init + delta).detach(), details


@torch.no_grad()
def _keys_and_outputs(model, tokenizer, requests, templates, layer, z_layer):
    """Mean MLP keys of ``layer`` and current outputs of ``z_layer``, at the last token.

    Keys ``[n, d_mlp]`` are averaged over each request's contexts; outputs ``[n, d_model]`` are
    read on the bare prefix.
    """
    rows = [t + list(r.prefix_ids) for r in requests for t in templates]
    ids, mask = pad_batch(rows, tokenizer.pad_token_id or 0)
    device = next(model.parameters()).device
    with capture(model, sorted({layer, z_layer}), positions=mask.sum(1) - 1,
                 sites=("mlp_activations", "residual_after"), stop_after=max(layer, z_layer)
                 ) as acts:
        model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
    keys = acts.get(layer, "mlp_activations")[:, 0].float().view(len(requests), len(templates), -1)
    outputs = acts.get(z_layer, "residual_after")[:, 0].float().view(len(requests),
                                                                      len(templates), -1)
    return keys.mean(1), outputs[:, 0]


@torch.no_grad()
def spread_outputs(model: nn.Module, tokenizer, requests: Sequence, targets: torch.Tensor,
                   config: MEMITConfig, moments: dict[int, torch.Tensor],
                   templates: Sequence[Sequence[int]] = ((),)) -> None:
    """MEMIT's second stage: edit ``config.layers`` so the last one outputs ``targets``.

    Layer by layer, the remaining gap ``R = (targets - current) / layers left`` at each request's
    last token is written into the MLP output projection as ``ΔW = R Kᵀ (λ C + K Kᵀ)⁻¹``
    (``K``: the layer's keys averaged over ``templates``, ``C``: ``moments[layer]``).

    Shapes: ``targets [n_requests, d_model]``, ``moments[layer] [d_mlp, d_mlp]``.
    """
    templates = [list(t) for t in templates]
    z_layer = config.layers[-1]
    for i, layer in enumerate(config.layers):
        keys, current = _keys_and_outputs(model, tokenizer, requests, templates, layer, z_layer)
        residual = (targets.to(current) - current) / (len(config.layers) - i)  # [n, d_model]
        system = config.mom2_weight * moments[layer].to(keys) + keys.T @ keys
        update = torch.linalg.solve(system, keys.T) @ residual  # [d_mlp, d_model]
        weight = neuron_weights(model, layer)
        weight.add_(update.to(weight.dtype))
        logger.info("MEMIT layer %d: update norm %.4g, mean residual norm %.4g", layer,
                    update.norm().item(), residual.norm(dim=1).mean().item())


def memit(model: nn.Module, tokenizer, forget: Sequence[Record], *,
          config: MEMITConfig | None = None, seed: int = 0) -> MethodRun:
    """Unlearn ``forget`` with MEMIT (or a Patil defense: ``config.objective``), in place."""
    config = config or MEMITConfig()
    if not isinstance(config, MEMITConfig):
        raise TypeError(f"MEMIT takes a MEMITConfig, got {type(config).__name__}")
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    _check(config, n_layers)
    requests = forget_requests(tokenizer, forget)
    z_layer = config.layers[-1]
    defense_layers = list(config.defense_layers or range(z_layer, n_layers))
    start = time.perf_counter()
    moments = key_second_moments(model, tokenizer, config.layers, n_tokens=config.mom2_tokens)
    seconds_statistics = time.perf_counter() - start
    weights = [neuron_weights(model, layer, layout) for layer in config.layers]
    originals = [w.clone() for w in weights]
    try:
        templates = _templates(model, tokenizer, config.templates)
        with torch.enable_grad(), training_only(model, []):  # grads reach δ only
            found = [_target_outputs(model, tokenizer, requests[i : i + config.batch_requests],
                                     templates, config, defense_layers)
                     for i in range(0, len(requests), config.batch_requests)]
        targets = torch.cat([z for z, _ in found])  # [n, d_model]
        found = [d for _, details in found for d in details]
        seconds_search = time.perf_counter() - start - seconds_statistics
        spread_outputs(model, tokenizer, requests, targets, config, moments, templates)
    except BaseException:
        for weight, original in zip(weights, originals, strict=True):
            weight.copy_(original)
        raise
    return MethodRun(seconds=time.perf_counter() - start, details={
        "requests": len(requests), "objective": config.objective,
        "seconds_statistics": seconds_statistics, "seconds_search": seconds_search,
        **{f"mean_{key}": sum(d[key] for d in found) / len(found)
           for key in ("steps", "objective", "delta_norm_ratio")},
    })


def _method(name: str, objective: str) -> FunctionMethod:
    """MEMIT with one objective under its own name; refuses a config asking for another."""

    def run(model, tokenizer, forget, *, config=None, seed=0):
        if isinstance(config, MEMITConfig) and config.objective in OBJECTIVES \
                and config.objective != objective:
            raise ValueError(f"{name} optimizes the {objective!r} objective; this config asks "
                             f"for {config.objective!r}: use the method of that name instead")
        return memit(model, tokenizer, forget, config=config, seed=seed)

    return FunctionMethod(name, lambda: MEMITConfig(objective=objective), run)


MEMIT = _method("memit", "delete")
HEAD_PROJECTION = _method("head-projection", "head-projection")
MAX_ENTROPY = _method("max-entropy", "max-entropy")
