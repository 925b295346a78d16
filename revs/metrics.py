"""Evaluation metrics. Each function states its formula in its docstring."""

from __future__ import annotations

import math

import torch
from torch import nn

from .generation import pad_batch

__all__ = ["perplexity"]


@torch.no_grad()
def perplexity(
    model: nn.Module, tokenizer, texts: str | list[str], *, window: int = 512, batch_size: int = 8
) -> float:
    """Token-level perplexity ``exp(mean NLL)`` over ``texts``.

    Each text is tokenized without special tokens and cut into non-overlapping windows of at most
    ``window`` tokens; every token but a window's first is predicted from the tokens before it in
    its window. The mean is over all predicted tokens of all texts. Windows of similar length
    are batched (right padding, masked), which changes no number.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    windows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        windows.extend(ids[i : i + window] for i in range(0, len(ids), window))
    windows = sorted((w for w in windows if len(w) >= 2), key=len)
    if not windows:
        raise ValueError("perplexity needs at least one text of two or more tokens")
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(windows), batch_size):
        ids, mask = pad_batch(windows[start : start + batch_size], tokenizer.pad_token_id or 0)
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # [batch, pos - 1]
        total_nll += nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum"
        ).item()
        total_tokens += int((labels != -100).sum())
    return math.exp(total_nll / total_tokens)
