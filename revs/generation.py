"""Does the model emit a secret? Exact greedy reproduction, checked without generating.

Greedy decoding from a prompt emits a target's tokens exactly iff, at every target position, the
model's argmax given the prompt and the target's earlier tokens is the target's next token. So one
teacher-forced forward pass per batch answers the question that token-by-token generation would
answer in ``len(target)`` passes (spec §5.2's memorization criterion).

Prompt and target are tokenized separately and their ids concatenated: that is what a model
trained on them saw, and it never re-tokenizes a joined string (spec §8.2 #13).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .data.records import Record

__all__ = ["encode", "exact_reproduction", "greedy_continuations", "pad_batch"]


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


def _position_ids(mask: torch.Tensor) -> torch.Tensor:
    # Left padding must not shift positions: real tokens start at position 0.
    return (mask.cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def exact_reproduction(
    model: nn.Module, tokenizer, records: Sequence[Record], *, batch_size: int = 32
) -> torch.Tensor:
    """Whether greedy decoding from each record's prompt emits its target exactly.

    Returns a bool tensor ``[len(records)]``. One forward pass per batch (left padding).
    """
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(records), batch_size):
        pairs = [encode(tokenizer, r) for r in records[start : start + batch_size]]
        ids, mask = pad_batch([p + t for p, t in pairs], tokenizer.pad_token_id, side="left")
        ids, mask = ids.to(device), mask.to(device)
        hidden = model.base_model(  # [batch, pos, d_model], after the final norm
            input_ids=ids, attention_mask=mask, position_ids=_position_ids(mask)
        ).last_hidden_state
        width = ids.shape[1]
        # The target occupies the last len(target) positions, each predicted one position earlier;
        # the vocabulary head (the costliest matmul) runs on those positions only.
        n_max = max(len(t) for _, t in pairs)
        logits = model.get_output_embeddings()(hidden[:, width - n_max - 1 : width - 1])
        predicted = logits.argmax(-1)  # [batch, n_max]: the tokens greedy decoding would pick
        for row, (_, target) in enumerate(pairs):
            hits = predicted[row, n_max - len(target) :] == ids[row, width - len(target) :]
            results.append(bool(hits.all()))
    return torch.tensor(results, dtype=torch.bool)


@torch.no_grad()
def greedy_continuations(
    model: nn.Module, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 20,
    batch_size: int = 32,
) -> list[str]:
    """Greedy continuation of each prompt (left-padded batches, no special tokens added)."""
    device = next(model.parameters()).device
    texts = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        ids, mask = pad_batch([tokenizer(p, add_special_tokens=False).input_ids for p in batch],
                              tokenizer.pad_token_id, side="left")
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
            max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
        )
        texts.extend(tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True))
    return texts
