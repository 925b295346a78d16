"""Token sharing: which other secrets (and how much general text) hold the tokens REVS demotes.

REVS lowers a token's rank in the neurons that write it, whatever the context, so a secret (or a
sentence) made partly of the same token is put at risk. Before any edit, the tokens a secret's
rule and the method pick (:func:`revs.targets.tokens_for`) can be looked up in every other
secret's tokens and in the offline corpus: :func:`token_sharing` is a dataset's headline figure
(the share of retained secrets holding a token picked for a forgotten one), :func:`shared_tokens`
its rows, and :func:`preflight` what ``revs check`` prints for a practitioner's file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .config import REVSConfig
from .data.records import Record, Split
from .targets import TargetToken, tokens_for
from .tokens import encode

__all__ = ["CORPUS_WARNING", "Damage", "PickedToken", "Preflight", "SharedSecret",
           "corpus_document_share", "crowded_tokens", "damage_by_sharing", "preflight",
           "shared_tokens", "token_sharing"]

CORPUS_WARNING = 0.05
"""Warn when a picked token occurs in more than this share of the corpus's documents: demoting
it everywhere it is written is then likely to show in the model's general text."""


def _secret_ids(tokenizer, record: Record) -> set[int]:
    """Every token id of the record's secret, as the model writes it after the prompt."""
    return set(encode(tokenizer, record)[1])


@dataclass(frozen=True)
class SharedSecret:
    """A retained secret and the picked tokens of forgotten secrets that it contains."""

    subject: str
    secret: str
    shared: tuple[str, ...]
    """Texts of the forgotten secrets' picked tokens among its tokens (sorted)."""


def shared_tokens(tokenizer, split: Split, config: REVSConfig | None = None) -> list[SharedSecret]:
    """One :class:`SharedSecret` per retained subject (first record of each), in split order.

    The picked tokens are those each forgotten record's rule and ``config`` (default
    :class:`REVSConfig`: the two rarest) choose: what REVS, and every method, unlearns.
    """
    config = config or REVSConfig()
    picked = {t.token_id: t.text for r in split.forget for t in tokens_for(tokenizer, r, config)}
    rows, seen = [], set()
    for record in split.retain:
        if record.subject in seen:
            continue
        seen.add(record.subject)
        shared = sorted(picked[i] for i in _secret_ids(tokenizer, record) & picked.keys())
        rows.append(SharedSecret(record.subject, record.secret, tuple(shared)))
    return rows


def token_sharing(tokenizer, split: Split, config: REVSConfig | None = None) -> float:
    """The share of retained secrets that contain a token picked for a forgotten secret.

    0 when every forgotten secret's picked tokens are its own; 1 when every retained secret
    holds at least one of them (SSNs written one token per digit).
    """
    rows = shared_tokens(tokenizer, split, config)
    return sum(bool(row.shared) for row in rows) / len(rows)


@dataclass(frozen=True)
class Damage:
    """Which retained subjects an edit cost, and whether they hold a forgotten secret's token.

    If the lost subjects are those that share a picked token, the damage follows the tokens (the
    rule does not tell the secrets apart); if not, the edit is not targeted.
    """

    lost: tuple[SharedSecret, ...]
    """Retained subjects with a record whose secret was emitted before and is not after."""
    records_lost: int
    """Retained records emitted before and not after."""
    sharing: int
    """Retained subjects that hold a picked token of a forgotten secret (lost or not)."""
    subjects: int
    """Retained subjects."""

    @property
    def lost_sharing(self) -> int:
        """Lost subjects that hold a picked token of a forgotten secret."""
        return sum(bool(row.shared) for row in self.lost)

    def reading(self) -> str:
        """One sentence: how many subjects were lost, and how many of them share a token."""
        if not self.lost:
            return f"no retained subject lost (of {self.subjects}; {self.sharing} share a token)"
        return (f"{len(self.lost)} of {self.subjects} retained subjects lost "
                f"({self.records_lost} records); {self.lost_sharing} of them hold a token picked "
                f"for a forgotten secret, as do {self.sharing} of the {self.subjects}")


def damage_by_sharing(tokenizer, split: Split, config: REVSConfig | None,
                      before: Sequence[bool], after: Sequence[bool]) -> Damage:
    """The retained subjects an edit lost, and the picked tokens they hold (:func:`shared_tokens`).

    Args:
        tokenizer: the model's tokenizer.
        split: the run's split.
        config: the token choice (default :class:`REVSConfig`).
        before: per record of ``split.retain``, whether greedy decoding emitted its secret before
            the edit (:func:`revs.evaluation.metrics.emitted`, shape ``[n_retain]``).
        after: the same after the edit.
    """
    before, after = [bool(b) for b in before], [bool(a) for a in after]
    if not len(before) == len(after) == len(split.retain):
        raise ValueError(f"before and after need one value per retained record "
                         f"({len(split.retain)}), got {len(before)} and {len(after)}")
    rows = shared_tokens(tokenizer, split, config)
    lost_records = [r.subject for r, b, a in zip(split.retain, before, after, strict=True)
                    if b and not a]
    lost_subjects = set(lost_records)
    lost = tuple(row for row in rows if row.subject in lost_subjects)
    return Damage(lost, len(lost_records), sum(bool(row.shared) for row in rows), len(rows))


def corpus_document_share(tokenizer, token_ids: Iterable[int],
                          documents: Sequence[str]) -> dict[int, float]:
    """For each token id, the share of ``documents`` whose tokens include it."""
    wanted = set(token_ids)
    counts: Counter[int] = Counter()
    for text in documents:
        counts.update(wanted & set(tokenizer(text, add_special_tokens=False).input_ids))
    return {i: counts[i] / max(len(documents), 1) for i in wanted}


def crowded_tokens(tokenizer, records: Sequence[Record], config: REVSConfig, *,
                   picks: Sequence[Sequence[TargetToken]] | None = None) -> list[str]:
    """A warning for each token picked for the secrets of more than half of the subjects.

    Such a rule does not tell the secrets apart: demoting the token is likely to damage every
    secret (and text) that holds it. ``picks``: each record's tokens, when already chosen.
    """
    if picks is None:
        picks = [tokens_for(tokenizer, record, config) for record in records]
    subjects = {r.subject for r in records}
    picked_for: dict[int, set[str]] = {}
    texts: dict[int, str] = {}
    for record, tokens in zip(records, picks, strict=True):
        for t in tokens:
            picked_for.setdefault(t.token_id, set()).add(record.subject)
            texts[t.token_id] = t.text
    return [f"the token {texts[i]!r} is picked for the secrets of {len(who)} of the "
            f"{len(subjects)} subjects: the token rule does not tell them apart, and demoting it "
            "is likely to damage every secret (and text) that contains it; give the rows a rule "
            "that picks what is particular to each secret"
            for i, who in sorted(picked_for.items())
            if len(subjects) > 1 and 2 * len(who) > len(subjects)]


@dataclass(frozen=True)
class PickedToken:
    """A token picked for one secret, and who else holds it."""

    label: str
    """Where the secret stands (``secrets.csv, row 3``)."""
    token: TargetToken
    other_secrets: int
    """How many of the file's other secrets (other subjects) contain the token."""
    corpus_share: float
    """Share of the offline corpus's documents that contain it."""


@dataclass(frozen=True)
class Preflight:
    """What ``revs check`` prints: every picked token, and the warnings."""

    tokens: list[PickedToken]
    n_secrets: int
    warnings: list[str]


def preflight(tokenizer, records: Sequence[Record], labels: Sequence[str], config: REVSConfig,
              documents: Sequence[str]) -> Preflight:
    """Each secret's picked tokens with the other secrets and corpus documents that hold them.

    Warns when a token is picked for more than half of the file's secrets (its rule leaves
    nothing that tells them apart) and when a picked token occurs in more than
    :data:`CORPUS_WARNING` of the corpus's documents (general text is likely to suffer). The
    other secrets of the file that hold a token are counted, not warned about: they are being
    forgotten too.
    """
    picks = [(label, record, tokens_for(tokenizer, record, config))
             for label, record in zip(labels, records, strict=True)]
    holders: dict[int, set[str]] = {}
    for record in records:
        for token_id in _secret_ids(tokenizer, record):
            holders.setdefault(token_id, set()).add(record.subject)
    picked_ids = {t.token_id for _, _, tokens in picks for t in tokens}
    corpus = corpus_document_share(tokenizer, picked_ids, documents)
    rows = [PickedToken(label, t, len(holders.get(t.token_id, set()) - {record.subject}),
                        corpus[t.token_id])
            for label, record, tokens in picks for t in tokens]
    warnings = crowded_tokens(tokenizer, records, config, picks=[p[2] for p in picks])
    for row in rows:
        if row.corpus_share > CORPUS_WARNING:
            warnings.append(f"{row.label}: {row.token.text!r} occurs in "
                            f"{row.corpus_share:.0%} of the corpus's documents: demoting it may "
                            "show in the model's general text")
    return Preflight(rows, len(records), warnings)
