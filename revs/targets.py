"""Which tokens of a secret are unlearned, and with which prefixes (paper §3, spec §2.1).

A secret is tokenized on its own; walking its tokens in order, a token containing a *stop*
string ends the walk, a token containing a *skip* string (or made only of whitespace) is passed
over, and every other token is a candidate. Each candidate is unlearned after its own prefix: the
prompt followed by all earlier tokens of the secret, skipped ones included. Of the candidates,
``max_tokens`` are kept, ordered by ``method`` (the paper: the two "rarest").

Differences from the official code, each a fix it needs on a digit-per-token tokenizer:

- candidates are values keyed by their *position* in the secret, so the two ``1`` tokens of
  ``" 915-11-1364"`` stay two targets (the official dict keyed by token string kept one: §8.2 #2);
- prefixes are token ids (``prompt_ids + target_ids[:i]``), never re-tokenized strings, and the
  target id is the original id (§8.2 #13);
- ``random`` ordering uses a local RNG with the given seed (the official code reseeded NumPy's
  global RNG with 0: §8.2 #14);
- whitespace-only tokens (SmolLM2's lone ``"Ġ"`` before a digit) are skipped by a rule of their
  own, rather than by a ``" "`` skip string that would also skip every token with a leading space.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .config import TOKEN_METHODS, REVSConfig
from .data.records import Record
from .tokens import encode

__all__ = ["TOKEN_METHODS", "TargetToken", "select_target_tokens", "tokens_for"]

TokenMethod = Literal["rarest", "frequent", "first", "last", "random"]


@dataclass(frozen=True)
class TargetToken:
    """One token of a secret to unlearn, with the context that precedes it."""

    prefix_ids: tuple[int, ...]
    """Prompt ids followed by the secret's ids before this token."""
    token_id: int
    """The token to demote."""
    position: int
    """Its index among the secret's tokens (0 = first)."""
    text: str
    """The token decoded on its own (for display)."""


def select_target_tokens(
    tokenizer,
    record: Record,
    *,
    max_tokens: int | None = 2,
    method: TokenMethod = "rarest",
    skip: Sequence[str] = ("-",),
    stop: Sequence[str] = (),
    skip_whitespace: bool = True,
    seed: int = 0,
) -> list[TargetToken]:
    """The tokens of ``record``'s secret to unlearn, in the order they will be edited.

    Args:
        tokenizer: the model's tokenizer.
        record: prompt and target (the target is tokenized without special tokens).
        max_tokens: how many tokens to keep; ``None`` or 0 keeps every candidate in order.
        method: ``"rarest"`` (highest token id first: later BPE merges are rarer, as in the
            official code), ``"frequent"`` (lowest id first), ``"first"`` (secret order),
            ``"last"`` (ours: from the end of the secret, whose prefix holds most of the secret
            itself and so is the most specific context) or ``"random"`` (shuffled with
            ``seed``). Ties keep the secret's order.
        skip: a token containing any of these strings is not unlearned (it still extends the
            prefix of later tokens). E-mails in the paper: ``("@", ".")``.
        stop: a token containing any of these strings ends the walk (it and all later tokens
            are excluded). E-mails in the paper: ``("@",)``, to unlearn the local part only.
        skip_whitespace: skip tokens that decode to whitespace only.
        seed: seed of the ``random`` ordering.

    Raises:
        ValueError: an unknown method, an empty secret, or a secret none of whose tokens is left
            to unlearn after the skip and stop rules.
    """
    if method not in TOKEN_METHODS:
        raise ValueError(f"unknown token method {method!r}; choose from {TOKEN_METHODS}")
    if max_tokens is not None and max_tokens < 0:
        raise ValueError(f"max_tokens must be None or >= 0, got {max_tokens}")
    prompt_ids, target_ids = encode(tokenizer, record)
    candidates: list[TargetToken] = []
    for position, token_id in enumerate(target_ids):
        text = tokenizer.decode([token_id])
        if any(s in text for s in stop):
            break
        if any(s in text for s in skip) or (skip_whitespace and not text.strip()):
            continue
        prefix = tuple(prompt_ids) + tuple(target_ids[:position])
        candidates.append(TargetToken(prefix, token_id, position, text))
    if not candidates:
        raise ValueError(
            f"nothing to unlearn in the secret of subject {record.subject!r}: every token is "
            f"skipped or after a stop string (skip={list(skip)}, stop={list(stop)})"
        )
    if method == "rarest":
        candidates.sort(key=lambda t: -t.token_id)  # stable: ties keep the secret's order
    elif method == "frequent":
        candidates.sort(key=lambda t: t.token_id)
    elif method == "last":
        candidates.reverse()
    elif method == "random":
        random.Random(seed).shuffle(candidates)
    return candidates[:max_tokens] if max_tokens else candidates


def tokens_for(tokenizer, record: Record, config: REVSConfig) -> list[TargetToken]:
    """:func:`select_target_tokens` with the token settings of ``config``."""
    return select_target_tokens(
        tokenizer, record, max_tokens=config.max_tokens, method=config.token_method,
        skip=config.skip, stop=config.stop, skip_whitespace=config.skip_whitespace,
        seed=config.seed,
    )
