"""What the gradient-based baselines share.

Training a chosen set of parameters safely, and the general-English text used as retain data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..data.corpus import general_corpus

__all__ = ["retain_token_ids", "training_only"]


@contextlib.contextmanager
def training_only(model: nn.Module, params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Inside the block only ``params`` require grad; on any error they get their values back.

    The model's own ``requires_grad`` flags are restored on exit either way, so a method that
    fails (or is interrupted) leaves the model exactly as it found it.
    """
    flags = {p: p.requires_grad for p in model.parameters()}
    originals = [p.detach().clone() for p in params]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        yield
    except BaseException:
        with torch.no_grad():
            for p, p0 in zip(params, originals, strict=True):
                p.copy_(p0)
        raise
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)


def retain_token_ids(tokenizer, count: int, max_tokens: int, min_tokens: int = 16
                     ) -> list[list[int]]:
    """Token ids of ``count`` retain texts from the general corpus's training documents.

    Documents are taken in the corpus's fixed order, each cut to its first ``max_tokens`` tokens
    (those shorter than ``min_tokens`` are skipped).

    The official NPO and RMU code use WikiText-2 lines; this corpus is its offline stand-in and
    shares nothing with the perplexity documents (the corpus's held-out part).
    """
    if count < 1 or max_tokens < min_tokens:
        raise ValueError(f"need count >= 1 and max_tokens >= {min_tokens}, got {count}, "
                         f"{max_tokens}")
    texts = []
    for document in general_corpus("train"):
        ids = tokenizer(document, add_special_tokens=False).input_ids[:max_tokens]
        if len(ids) >= min_tokens:
            texts.append(ids)
        if len(texts) == count:
            break
    if not texts:
        raise ValueError("the general corpus has no document long enough for retain data")
    return [texts[i % len(texts)] for i in range(count)]
