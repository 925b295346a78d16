"""Records of sensitive data and the forget / generality / retain split of the paper (spec §5.1).

A :class:`Record` is one context in which a secret appears: the model reads ``prompt`` and a model
that memorized the secret continues with ``target`` (the secret with its leading separator, e.g.
``" 915-11-1364"``). Records of the same ``subject`` (a person, an organisation, a document) share
one secret and differ in ``kind`` (the document type: medical visit, tax form, e-mail signature...).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .rules import DEFAULT_RULE, get_rule

__all__ = ["Record", "Split", "load_records", "located_records", "records_digest", "save_records",
           "split_records"]


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
    rule: str = field(default=DEFAULT_RULE, kw_only=True)
    """The name of the secret's token rule (:data:`revs.data.rules.RULES`): which part of it
    every method unlearns and every score reads."""

    def __post_init__(self):
        get_rule(self.rule)  # an unknown name fails here, not in the middle of a run

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


_COLUMNS = ["subject", "kind", "prompt", "target"]
"""The columns a records file must have; ``rule`` is optional (default :data:`DEFAULT_RULE`)."""
_WRITTEN = [*_COLUMNS, "rule"]


def save_records(records: Iterable[Record], path: str | Path) -> None:
    """Write records to a CSV file with columns ``subject, kind, prompt, target, rule``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_WRITTEN, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: asdict(r)[c] for c in _WRITTEN} for r in records)


def load_records(path: str | Path) -> list[Record]:
    """Read records from a CSV, JSONL or JSON file (columns ``subject, kind, prompt, target``).

    An optional column ``rule`` names each secret's token rule (``ssn``, ``email``, ``url`` or
    ``secret``, see :mod:`revs.data.rules`; default ``secret``); a rule that finds nothing to
    unlearn in a row's secret (an e-mail rule on a string without a local part) is an error
    naming the row.

    A file with only ``prompt`` and ``secret`` columns (a practitioner's list of secrets) is also
    accepted: each row becomes its own subject, with target ``" " + secret``. The format is the
    extension's (``.csv``, ``.jsonl``, ``.json``, any case); a ``.json`` file may hold a list of
    objects or one object per line, and another extension is read by its content. UTF-8 with or
    without a byte-order mark (as spreadsheets save it).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a file that cannot be read as records; the message names the file and the
            1-based row (CSV), line (JSONL) or item (JSON list) and says what to change.
    """
    return [record for _, record in located_records(path)]


def located_records(path: str | Path) -> list[tuple[str, Record]]:
    """:func:`load_records` with where each record stands: ``("row 3", record)``, 1-based.

    ``row N`` counts a CSV's data rows (the header is not a row), ``line N`` a JSONL file's lines
    and ``item N`` a JSON list's items, so that a message can point at the record in the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder: give a .csv or .jsonl file of records")
    if not path.is_file():
        raise FileNotFoundError(f"no records file at {str(path)!r}")
    text = _decode(path)
    located = [(where, _record(path.name, where, i, row))
               for i, (where, row) in enumerate(_rows(path, text))]
    if not located:
        raise ValueError(f"{path.name} holds no records: give a header row and one row per secret")
    return located


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of a column
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path.name}, line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x}); save the "
            "file as UTF-8"
        ) from None


def _format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    start = text.lstrip()[:1]
    if suffix == ".json":
        return "json" if start == "[" else "jsonl"
    if suffix in (".jsonl", ".csv"):
        return suffix[1:]
    return {"[": "json", "{": "jsonl"}.get(start, "csv")


def _rows(path: Path, text: str) -> list[tuple[str, object]]:
    """``(where, row)`` pairs, ``where`` naming the row as a person would find it."""
    kind = _format(path, text)
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = []
        for n, row in enumerate(reader, 1):
            if None in row:
                raise ValueError(f"{path.name}, row {n}: more fields than the header has; quote a "
                                 'field that holds a comma ("like, this")')
            rows.append((f"row {n}", row))
        return rows
    if kind == "json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path.name}, line {error.lineno}: not valid JSON ({error.msg})") \
                from None
        if not isinstance(items, list):
            raise ValueError(f"{path.name}: a .json file of records holds a list of objects")
        return [(f"item {n}", item) for n, item in enumerate(items, 1)]
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path.name}, line {n}: not valid JSON ({error.msg}); a .jsonl file "
                             "holds one object per line") from None
    return rows


def _record(name: str, where: str, index: int, row: object) -> Record:
    if not isinstance(row, dict):
        raise ValueError(f"{name}, {where}: expected an object with prompt and secret, got "
                         f"{type(row).__name__} {json.dumps(row)[:40]}")
    for column, value in row.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}, {where}: {column!r} must be text, got {json.dumps(value)}"
                             " (quote it)")
    if "target" not in row and "secret" in row:
        if row["secret"] is None:
            raise ValueError(f"{name}, {where}: the secret is missing")
        row = {"subject": f"row-{index}", "kind": "user", "prompt": row.get("prompt"),
               "target": " " + row["secret"].strip(), "rule": row.get("rule")}
    missing = [c for c in _COLUMNS if row.get(c) is None]
    if missing:
        raise ValueError(
            f"{name}, {where}: missing column(s) {missing}; a records file needs columns "
            f"{_COLUMNS} (or 'prompt' and 'secret')"
        )
    if not row["target"].strip():
        raise ValueError(f"{name}, {where}: the secret is empty")
    if not row["prompt"].strip():
        raise ValueError(f"{name}, {where}: the prompt is empty: give the text before the secret")
    rule = (row.get("rule") or "").strip() or DEFAULT_RULE
    try:
        token_rule = get_rule(rule)
    except ValueError as error:
        raise ValueError(f"{name}, {where}: {error}") from None
    if token_rule.span(row["target"].strip()) is None:
        raise ValueError(
            f"{name}, {where}: the {rule!r} rule finds nothing to unlearn in this secret "
            f"({token_rule.description}): fix the secret, or give the row another rule"
        )
    return Record(**{c: row[c] for c in _COLUMNS}, rule=rule)


def records_digest(records: Iterable[Record]) -> str:
    """A SHA-256 of the records' content: a cache key that never holds the secrets in clear."""
    digest = hashlib.sha256()
    for r in records:
        for value in (r.subject, r.kind, r.prompt, r.target):
            digest.update(value.encode("utf-8") + b"\x00")
    return digest.hexdigest()
