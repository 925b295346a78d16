"""Records of sensitive data and the forget / generality / retain split of the paper (spec §5.1).

A :class:`Record` is one context in which a secret appears: the model reads ``prompt`` and a model
that memorized the secret continues with ``target`` (the secret with its leading separator, e.g.
``" 915-11-1364"``). Records of the same ``subject`` (a person, an organisation, a document) share
one secret and differ in ``kind`` (the document type: medical visit, tax form, e-mail signature...).
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["Record", "Split", "load_records", "records_digest", "save_records", "split_records"]


@dataclass(frozen=True)
class Record:
    """One prompt that leads to a secret."""

    subject: str
    """Whose secret: records with the same subject share it (the split groups by subject)."""
    kind: str
    """The context's type (document kind or template family)."""
    prompt: str
    """The text before the secret, exactly as the model reads it."""
    target: str
    """The exact continuation: the secret with its leading separator (usually one space)."""

    @property
    def secret(self) -> str:
        """The sensitive string itself (the target without surrounding whitespace)."""
        return self.target.strip()


@dataclass(frozen=True)
class Split:
    """The paper's split of one dataset for one seed.

    ``forget``: one record per forgotten subject (the prompts REVS edits with);
    ``generality``: the other records of the forgotten subjects (same secret, unseen contexts);
    ``retain``: every record of the other subjects (their secrets must survive: specificity).
    """

    forget: tuple[Record, ...]
    generality: tuple[Record, ...]
    retain: tuple[Record, ...]


def split_records(records: Sequence[Record], seed: int, n_forget: int | None = None) -> Split:
    """Split records by subject, as the official code does for SSNs (spec §5.1).

    The subjects are shuffled with ``seed``; the first ``n_forget`` (default: half) are forgotten.
    One record of each forgotten subject, drawn with ``seed``, goes to ``forget``, its other records
    to ``generality``; all records of the remaining subjects go to ``retain``. Order within each
    part follows the input. Deterministic per seed, using a local RNG.
    """
    subjects = list(dict.fromkeys(r.subject for r in records))  # first-seen order
    if not subjects:
        raise ValueError("cannot split an empty dataset")
    if len(subjects) < 2:
        raise ValueError(
            "a forget / retain split needs records of at least two subjects (one secret to "
            "forget, one to keep); this dataset has one: add records of other secrets"
        )
    n_forget = len(subjects) // 2 if n_forget is None else n_forget
    if not 0 < n_forget < len(subjects):
        raise ValueError(
            f"n_forget must be between 1 and {len(subjects) - 1} for {len(subjects)} subjects, "
            f"got {n_forget}"
        )
    rng = random.Random(seed)
    shuffled = subjects[:]
    rng.shuffle(shuffled)
    forgotten = set(shuffled[:n_forget])
    by_subject: dict[str, list[Record]] = {}
    for record in records:
        by_subject.setdefault(record.subject, []).append(record)
    chosen = {subject: rng.choice(by_subject[subject]) for subject in sorted(forgotten)}
    forget = tuple(r for r in records if r.subject in forgotten and r is chosen[r.subject])
    return Split(
        forget=forget,
        generality=tuple(r for r in records if r.subject in forgotten and r not in forget),
        retain=tuple(r for r in records if r.subject not in forgotten),
    )


_COLUMNS = [f.name for f in fields(Record)]


def save_records(records: Iterable[Record], path: str | Path) -> None:
    """Write records to a CSV file with columns ``subject, kind, prompt, target``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(r) for r in records)


def load_records(path: str | Path) -> list[Record]:
    """Read records from a CSV (columns ``subject, kind, prompt, target``) or JSONL file.

    A file with only ``prompt`` and ``secret`` columns (a practitioner's list of secrets) is also
    accepted: each row becomes its own subject, with target ``" " + secret``.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no records file at {str(path)!r}")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    records = []
    for i, row in enumerate(rows):
        if "target" not in row and "secret" in row:
            row = {"subject": f"row-{i}", "kind": "user", "prompt": row.get("prompt"),
                   "target": " " + row["secret"].strip()}
        missing = [c for c in _COLUMNS if row.get(c) is None]
        if missing:
            raise ValueError(
                f"{path.name}, row {i + 1}: missing column(s) {missing}; a records file needs "
                f"columns {_COLUMNS} (or 'prompt' and 'secret')"
            )
        if not row["target"].strip():
            raise ValueError(f"{path.name}, row {i + 1}: the secret is empty")
        records.append(Record(**{c: row[c] for c in _COLUMNS}))
    if not records:
        raise ValueError(f"{path.name} holds no records")
    return records


def records_digest(records: Iterable[Record]) -> str:
    """A SHA-256 of the records' content: a cache key that never holds the secrets in clear."""
    digest = hashlib.sha256()
    for r in records:
        for value in (r.subject, r.kind, r.prompt, r.target):
            digest.update(value.encode("utf-8") + b"\x00")
    return digest.hexdigest()
