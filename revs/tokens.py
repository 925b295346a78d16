"""Token ids of a record and batches of them: the one place text becomes model input.

Prompt and secret are tokenized separately, without special tokens, and their ids concatenated:
that is what a model trained on them saw, and it never re-tokenizes a joined string (spec §8.2
#13). Every part of revs that feeds a record to a model goes through :func:`encode`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .data.records import Record

__all__ = ["encode", "pad_batch"]


def encode(tokenizer, record: Record) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of the target, without special tokens."""
    prompt_ids = tokenizer(record.prompt, add_special_tokens=False).input_ids
    target_ids = tokenizer(record.target, add_special_tokens=False).input_ids
    if not target_ids or not record.target.strip():
        raise ValueError(f"the secret of subject {record.subject!r} is empty or whitespace")
    if not prompt_ids:
        raise ValueError(
            f"the prompt of subject {record.subject!r} is empty: give the text that precedes "
            "the secret (this tokenizer adds no BOS token to condition on)"
        )
    return prompt_ids, target_ids


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, *, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id sequences into ``input_ids [batch, pos]`` and ``attention_mask [batch, pos]``."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
        ids[row, span] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask
