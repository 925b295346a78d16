"""Evaluation metrics. Each function states its formula in its docstring."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["perplexity"]


@torch.no_grad()
def perplexity(model: nn.Module, tokenizer, texts: str | list[str], *, window: int = 512) -> float:
    """Token-level perplexity ``exp(mean NLL)`` over ``texts``.

    Each text is tokenized without special tokens and cut into non-overlapping windows of at most
    ``window`` tokens; every token but a window's first is predicted from the tokens before it in
    its window. The mean is over all predicted tokens of all texts.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
        for start in range(0, len(ids), window):
            chunk = ids[start : start + window].to(device)
            if len(chunk) < 2:
                continue
            logits = model(chunk[None]).logits[0, :-1].float()  # [pos - 1, d_vocab]
            nll = nn.functional.cross_entropy(logits, chunk[1:], reduction="sum")
            total_nll += nll.item()
            total_tokens += len(chunk) - 1
    if total_tokens == 0:
        raise ValueError("perplexity needs at least one text of two or more tokens")
    return math.exp(total_nll / total_tokens)
