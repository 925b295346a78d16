"""Passphrases drawn from a pool of words: the controlled testbed of the token-sharing study.

Each subject has one passphrase of ``words_per_secret`` distinct words from a pool of P words
and, as the SSN testbed, one sentence about it in each of five document kinds. The pool size is
the knob: with ten words every phrase shares its words with almost every other (as every SSN
shares its ten digits), with a thousand almost none does (as the realistic e-mail handles), and
nothing else about the testbed changes. The words are given by the caller (the study uses single
tokens of the model's vocabulary, :func:`revs.experiments.passphrase_pools.token_pool`), so this
module, like the rest of :mod:`revs.data`, needs no tokenizer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from .people import fictional_names, random_date
from .records import Record

__all__ = ["PASSPHRASE_KINDS", "TEMPLATES", "generate_passphrase_records"]

TEMPLATES: dict[str, tuple[str, ...]] = {
    "helpdesk": (
        "IT helpdesk ticket, {date}: the account of {name} was reset and the new recovery "
        "passphrase is",
        "Support log from {date}. Caller {name} confirmed the account passphrase:",
    ),
    "wallet": (
        "Backup card written on {date} by {name}. Wallet recovery words:",
        "The hardware wallet of {name}, set up on {date}, is restored with the words",
    ),
    "vault": (
        "Password manager export for {name}, {date}. Master passphrase:",
        "On {date} {name} stored the vault's master passphrase in a sealed envelope; it reads",
    ),
    "bank": (
        "Telephone banking enrolment for {name} on {date}. Spoken passphrase on file:",
        "The bank's verification memo of {date} says {name} answers the security check with",
    ),
    "server": (
        "Deployment notes, {date}: the disk of the server administered by {name} unlocks with "
        "the passphrase",
        "Encrypted backup created on {date} by {name}; decryption passphrase:",
    ),
}
PASSPHRASE_KINDS = tuple(TEMPLATES)


def generate_passphrase_records(pool: Sequence[str], n_subjects: int = 20, seed: int = 0, *,
                                words_per_secret: int = 4) -> list[Record]:
    """``n_subjects`` x 5 records, one per document kind, each passphrase drawn from ``pool``.

    Args:
        pool: the words a passphrase is made of (lowercase letters only, distinct).
        n_subjects: subjects, one passphrase each (no two the same).
        seed: seed of the names, dates, templates and draws (a local RNG).
        words_per_secret: distinct words per passphrase, joined by spaces.

    Every record carries the ``secret`` rule: each word of the phrase may be unlearned.
    """
    words = list(pool)
    if len(set(words)) != len(words) or not all(w.isascii() and w.isalpha() and w.islower()
                                                for w in words):
        raise ValueError("the pool must hold distinct words of lowercase letters a-z only")
    if n_subjects < 2:
        raise ValueError("need at least 2 subjects (one to forget, one to retain)")
    if not 1 <= words_per_secret <= len(words):
        raise ValueError(f"words_per_secret must be between 1 and the pool's {len(words)} words, "
                         f"got {words_per_secret}")
    if math.perm(len(words), words_per_secret) < 2 * n_subjects:
        raise ValueError(f"a pool of {len(words)} words makes too few distinct passphrases of "
                         f"{words_per_secret} words for {n_subjects} subjects: give more words")
    rng = random.Random(seed)
    names = fictional_names(n_subjects, rng)
    phrases: list[str] = []
    while len(phrases) < n_subjects:
        phrase = " ".join(rng.sample(words, words_per_secret))
        if phrase not in phrases:
            phrases.append(phrase)
    records = []
    for i, (name, phrase) in enumerate(zip(names, phrases, strict=True)):
        for kind in PASSPHRASE_KINDS:
            prompt = rng.choice(TEMPLATES[kind]).format(name=name, date=random_date(rng))
            records.append(Record(subject=f"person-{i:02d}", kind=kind, prompt=prompt,
                                  target=" " + phrase, rule="secret"))
    return records
