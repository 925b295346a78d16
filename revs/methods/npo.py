"""NPO-KL: negative preference optimization plus a KL term on retain text (spec §6.3).

Zhang et al. 2024.

Each step pairs one forget request with one retain text. The forget loss is NPO's
``-(2/β) log σ(β (NLL_θ - NLL_ref))`` on the request's target token after its prefix, where
``NLL_ref`` is the unedited model's (frozen) and rises without bound only logarithmically, unlike
gradient ascent. The retain loss is ``KL(p_ref || p_θ)`` averaged over the retain text's positions.
AdamW trains every parameter.

Choices: retain texts are the offline general corpus's training documents (the official code uses
WikiText-2 lines), cut to ``retain_tokens``; prefixes are the full prompts every method sees (the
official NPO cut prompts to 100 characters, spec §8.2 #26).
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
from .base import FunctionMethod, MethodRun
from .requests import forget_requests
from .training import retain_token_ids, training_only

__all__ = ["NPO_KL", "NPOConfig", "npo_kl", "npo_loss"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NPOConfig:
    """Settings of NPO-KL (official defaults: lr 5e-5, β 1, KL weight 1, one epoch)."""

    lr: float = 5e-5
    epochs: int = 1
    beta: float = 1.0
    npo_coeff: float = 1.0
    kl_coeff: float = 1.0
    retain_tokens: int = 64
    """Length of each retain text, in tokens."""


def npo_loss(nll: torch.Tensor, nll_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """``-(2/β) log σ(β (nll - nll_ref))``, elementwise; at ``nll = nll_ref`` it is ``(2/β) log 2``.

    Shapes: any, broadcast together.
    """
    return -(2.0 / beta) * F.logsigmoid(beta * (nll - nll_ref))


def _target_nll(model: nn.Module, prefix_ids: torch.Tensor, token_id: int) -> torch.Tensor:
    logits = model(input_ids=prefix_ids, use_cache=False).logits[0, -1].float()
    return -torch.log_softmax(logits, -1)[token_id]


@torch.enable_grad()
def npo_kl(model: nn.Module, tokenizer, forget: Sequence[Record], *,
           config: NPOConfig | None = None, seed: int = 0) -> MethodRun:
    """Unlearn ``forget`` with NPO-KL, in place; retain text comes from the general corpus."""
    config = config or NPOConfig()
    if not isinstance(config, NPOConfig):
        raise TypeError(f"npo-kl takes an NPOConfig, got {type(config).__name__}")
    if config.lr <= 0 or config.epochs < 1 or config.beta <= 0:
        raise ValueError("NPO needs lr > 0, beta > 0 and epochs >= 1")
    requests = forget_requests(tokenizer, forget)
    retain_ids = retain_token_ids(tokenizer, len(requests), config.retain_tokens)
    device = next(model.parameters()).device
    params = [p for p in model.parameters()]
    start = time.perf_counter()
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    prefixes = [torch.tensor([r.prefix_ids], device=device) for r in requests]
    with torch.no_grad():
        nll_ref = [_target_nll(reference, ids, r.token_id) for ids, r in
                   zip(prefixes, requests, strict=True)]
    torch.manual_seed(seed)  # AdamW is deterministic; this only pins any dropout
    history = []
    with training_only(model, params):
        optimizer = torch.optim.AdamW(params, lr=config.lr)
        for epoch in range(config.epochs):
            totals = {"npo": 0.0, "kl": 0.0, "nll": 0.0}
            for ids, request, ref, text in zip(prefixes, requests, nll_ref, retain_ids,
                                               strict=True):
                nll = _target_nll(model, ids, request.token_id)
                forget_loss = npo_loss(nll, ref, config.beta)
                text_ids = torch.tensor([text], device=device)
                with torch.no_grad():
                    log_p_ref = torch.log_softmax(reference(input_ids=text_ids).logits[0].float(),
                                                  -1)
                log_p = torch.log_softmax(model(input_ids=text_ids, use_cache=False)
                                          .logits[0].float(), -1)
                kl = F.kl_div(log_p, log_p_ref, log_target=True, reduction="batchmean")
                loss = config.npo_coeff * forget_loss + config.kl_coeff * kl
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                totals["npo"] += forget_loss.item()
                totals["kl"] += kl.item()
                totals["nll"] += nll.item()
            means = {key: value / len(requests) for key, value in totals.items()}
            history.append(means)
            logger.info("NPO epoch %d: NPO loss %.4g, retain KL %.4g, target NLL %.4g",
                        epoch + 1, means["npo"], means["kl"], means["nll"])
    del reference
    return MethodRun(seconds=time.perf_counter() - start, details={
        "requests": len(requests), "epochs": config.epochs, "history": history,
    })


NPO_KL = FunctionMethod("npo-kl", NPOConfig, npo_kl)
