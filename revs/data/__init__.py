"""Datasets of sensitive strings and the general text around them.

Synthetic SSNs, e-mails and URLs (:mod:`.ssn`, :mod:`.emails`, :mod:`.urls`), naturally memorized
secrets mined from offline text (:mod:`.natural`), and an offline general-English corpus
(:mod:`.corpus`). :func:`load_dataset` gives any of them, or a user's file, as records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..resources import data_path
from .emails import generate_email_records
from .records import Record, Split, load_records, split_records
from .rules import RULES, TokenRule, get_rule
from .ssn import generate_ssn_records
from .urls import generate_url_records

__all__ = ["COMPARED", "DATASETS", "RULES", "SYNTHETIC", "Record", "Split", "TokenRule", "get_rule",
           "load_dataset", "load_records", "split_records", "with_rule"]

DATASETS = ("ssn", "emails", "urls", "emails-hard", "urls-hard", "natural")
"""Names :func:`load_dataset` knows; anything else is read as a file path. ``emails`` and
``urls`` are built like real addresses; ``emails-hard`` and ``urls-hard`` are the random ones of
the first comparison (see :mod:`.emails`, :mod:`.urls`)."""

SYNTHETIC = DATASETS[:5]
"""The generated datasets (the memorization testbeds)."""
COMPARED = DATASETS[:3]
"""The datasets of the comparison, each with a validation testbed of its own for the sweeps."""

_NATURAL_CSV = data_path("natural", "natural.csv")


def with_rule(records: list[Record], rule: str) -> list[Record]:
    """The same records under another token rule (e.g. to re-read a result computed with it)."""
    get_rule(rule)
    return [dataclasses.replace(record, rule=rule) for record in records]


def load_dataset(name: str, *, n_subjects: int = 40, seed: int = 0) -> list[Record]:
    """Records of a named dataset or of a ``.csv`` / ``.jsonl`` file.

    ``ssn``, ``emails``, ``urls``, ``emails-hard`` and ``urls-hard`` are generated
    (``n_subjects`` x 5 records, from ``seed``: seed 0 reproduces the files in ``data/``);
    ``natural`` reads the mined natural secrets. Every record carries its dataset's token rule
    (:mod:`.rules`); a file's rows name theirs in an optional ``rule`` column.
    """
    if name == "ssn":
        return generate_ssn_records(n_subjects, seed)
    if name in ("emails", "emails-hard"):
        return generate_email_records(n_subjects, seed,
                                      style="hard" if name.endswith("-hard") else "realistic")
    if name in ("urls", "urls-hard"):
        return generate_url_records(n_subjects, seed,
                                    style="hard" if name.endswith("-hard") else "realistic")
    if name == "natural":
        with open(_NATURAL_CSV, encoding="utf-8") as handle:
            if sum(1 for _ in handle) <= 1:
                raise ValueError(
                    "the natural dataset is empty: the miner found no secret that the embedded "
                    "model reproduces on its own (see data/natural/README.md; re-mine with "
                    "`revs mine --out data/natural/natural.csv`)"
                )
        return load_records(_NATURAL_CSV)
    if Path(name).suffix in (".csv", ".jsonl"):
        return load_records(name)
    raise ValueError(
        f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)} or give a .csv/.jsonl "
        "file with columns prompt and secret (or subject, kind, prompt, target)"
    )
