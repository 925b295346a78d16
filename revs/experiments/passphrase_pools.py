"""The token-sharing study's testbeds: passphrases whose words are single tokens of the model.

Shared by the study (:mod:`.sharing_study`), which scores every pool size P of
:data:`POOL_SIZES` on generator seed 0, and by the sweeps (:mod:`.tuning`), which choose each
method's settings on a pool of other words and other people (seed 1), so no secret the study
scores was seen while tuning.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Collection

from ..data.passphrases import TEMPLATES, generate_passphrase_records
from ..data.records import Record

__all__ = ["POOL_SIZES", "SMOKE_POOL_SIZES", "WORDS_PER_SECRET", "study_records", "token_pool",
           "validation_records"]

POOL_SIZES = (10, 30, 100, 300, 1000)
"""Pool sizes P of the book's study: from SSN-like sharing to less than the e-mail testbed's."""
SMOKE_POOL_SIZES = (10, 1000)
WORDS_PER_SECRET = 4
_COMMON_IDS = 1_000
"""Token ids below this are the most frequent words of the tokenizer's training text (``the``,
``which``): left out of the pools, as no passphrase generator would use them."""


@functools.lru_cache(maxsize=2)  # a scan of the whole vocabulary; the study asks per pool
def _candidate_words(tokenizer) -> tuple[str, ...]:
    template_words = {w.lower() for texts in TEMPLATES.values() for text in texts
                      for w in re.findall(r"[A-Za-z]+", text)}
    words = []
    for token_id in range(_COMMON_IDS, len(tokenizer)):
        text = tokenizer.decode([token_id])
        if (re.fullmatch(r" [a-z]{5,9}", text) and text[1:] not in template_words
                and tokenizer(text, add_special_tokens=False).input_ids == [token_id]):
            words.append(text[1:])
    return tuple(words)


def token_pool(tokenizer, size: int, *, seed: int = 0,
               exclude: Collection[str] = ()) -> list[str]:
    """``size`` words, each a single token of ``tokenizer`` when written after a space.

    Candidates: tokens that decode to a space and 5-9 lowercase letters, that the tokenizer
    encodes back to that one id, past the :data:`_COMMON_IDS` most frequent, not a word of the
    passphrase prompts and not in ``exclude``; shuffled with ``seed``. Pools of one seed (and
    one ``exclude``) nest: the first ``size``.
    """
    excluded = set(exclude)
    candidates = [word for word in _candidate_words(tokenizer) if word not in excluded]
    if size > len(candidates):
        raise ValueError(f"this tokenizer has {len(candidates)} candidate words, not {size}")
    random.Random(seed).shuffle(candidates)
    return candidates[:size]


def study_records(tokenizer, pool_size: int, *, n_subjects: int = 20,
                  seed: int = 0) -> list[Record]:
    """The passphrase testbed of one pool size (``n_subjects`` x 5 records).

    ``seed`` shuffles the candidate words (:func:`token_pool`) and draws the people, prompts and
    phrases: seed 0 is the study's (the sweeps tune on :func:`validation_records`).
    """
    return generate_passphrase_records(token_pool(tokenizer, pool_size, seed=seed), n_subjects,
                                       seed, words_per_secret=WORDS_PER_SECRET)


def validation_records(tokenizer, pool_size: int, *, n_subjects: int = 20,
                       seed: int = 1) -> list[Record]:
    """A passphrase testbed to tune on, disjoint from the study's.

    As :func:`study_records`, from words no pool of the study holds (none of the seed-0 pool of
    ``max(POOL_SIZES)``), with other people and phrases.
    """
    study_words = token_pool(tokenizer, max(POOL_SIZES))
    pool = token_pool(tokenizer, pool_size, seed=seed, exclude=study_words)
    return generate_passphrase_records(pool, n_subjects, seed, words_per_secret=WORDS_PER_SECRET)
