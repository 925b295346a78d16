"""Which tokens of a secret are unlearned, and with which prefixes (paper §3, spec §2.1).

The secret's own token rule (``record.rule``, :mod:`revs.data.rules`) says which of its
characters may be unlearned (an e-mail's local part, a URL's last path segment, a whole SSN)
and which tokens inside them are passed over (hyphens, dots, whitespace). A token is a candidate
when all its non-space characters lie in that part and the rule does not skip it. Each candidate
is unlearned after its own prefix: the prompt followed by all earlier tokens of the secret,
skipped ones included. Of the candidates, ``max_tokens`` are kept, ordered by ``method`` (the
paper: the two "rarest"): that choice is the method's, the rule is the data's.

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
from .data.rules import TokenRule, get_rule
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
    rule: TokenRule | None = None,
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
        rule: the token rule (default: the record's own, ``get_rule(record.rule)``); give one
            only to look at what another rule would pick.
        seed: seed of the ``random`` ordering.

    Raises:
        ValueError: an unknown method, an empty secret, or a secret none of whose tokens is left
            to unlearn by its rule (the message names the subject and the rule).
    """
    if method not in TOKEN_METHODS:
        raise ValueError(f"unknown token method {method!r}; choose from {TOKEN_METHODS}")
    if max_tokens is not None and max_tokens < 0:
        raise ValueError(f"max_tokens must be None or >= 0, got {max_tokens}")
    rule = rule or get_rule(record.rule)
    prompt_ids, target_ids = encode(tokenizer, record)
    lead = len(record.target) - len(record.target.lstrip())
    span = rule.span(record.secret)
    candidates: list[TargetToken] = []
    if span is not None:
        start, end = span[0] + lead, span[1] + lead
        for position, (token_id, (first, last)) in enumerate(
                zip(target_ids, _char_spans(tokenizer, target_ids), strict=True)):
            text = tokenizer.decode([token_id])
            if first >= end:
                break
            if first < start or last > end or rule.skips(text):
                continue
            prefix = tuple(prompt_ids) + tuple(target_ids[:position])
            candidates.append(TargetToken(prefix, token_id, position, text))
    if not candidates:
        raise ValueError(
            f"nothing to unlearn in the secret of subject {record.subject!r}: its rule "
            f"{rule.name!r} ({rule.description}) leaves no token of it"
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


def _char_spans(tokenizer, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Each token's characters in the decoded target, leading and trailing spaces left out.

    Read from the decoded prefixes (not a fast tokenizer's offsets), so any tokenizer works;
    a token that decodes to whitespace only spans nothing at its start.
    """
    spans, before = [], 0
    for i in range(len(ids)):
        text = tokenizer.decode(list(ids[: i + 1]), clean_up_tokenization_spaces=False)
        piece = text[before:]
        first = before + len(piece) - len(piece.lstrip())
        last = max(first, before + len(piece.rstrip()))
        spans.append((first, last))
        before = len(text)
    return spans


def tokens_for(tokenizer, record: Record, config: REVSConfig) -> list[TargetToken]:
    """:func:`select_target_tokens` with the record's rule and ``config``'s count and order."""
    return select_target_tokens(tokenizer, record, max_tokens=config.max_tokens,
                                method=config.token_method, seed=config.seed)
