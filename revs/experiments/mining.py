"""Mining *naturally memorized* URLs and e-mail addresses: the model's side of the search.

:mod:`revs.data.natural` scans offline text for candidates and applies the rules;
:func:`greedy_matches` asks the model whether greedy decoding continues each prompt with exactly
its address (one teacher-forced forward pass per batch decides it: greedy decoding emits the
target's tokens iff at every target position the argmax of the logits is the next target token);
:func:`mine` runs the three steps and returns a :class:`MiningReport`.
"""

from __future__ import annotations

import logging
import platform
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data.natural import (
    HEAD_CHARS,
    PREFIX_CHARS,
    Candidate,
    NaturalRecord,
    normalize_roots,
    redact,
    rejection_reason,
    runs_on,
    scan_candidates,
)
from ..evaluation.generation import GreedyCheck, greedy_matches_ids

__all__ = ["MiningReport", "greedy_matches", "mine"]

logger = logging.getLogger(__name__)


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def greedy_matches(
    model: nn.Module,
    tokenizer,
    prompts: Sequence[str],
    targets: Sequence[str],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> list[GreedyCheck]:
    """Whether greedy decoding continues each prompt with its target.

    The check is that of :func:`greedy_matches_ids`. Prompt and target are tokenized separately,
    without special tokens, and their ids joined: the model reads exactly the prompt's tokens, as
    it would in ``generate``, and the target is compared token by token (the joined string is
    never re-tokenized across the boundary).
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return greedy_matches_ids(
        model, [_encode(tokenizer, p) for p in prompts], [_encode(tokenizer, t) for t in targets],
        batch_size=batch_size, pad_id=pad_id, progress=progress,
    )


@dataclass
class MiningReport:
    """What :func:`mine` found: the kept records and the counts of every stage."""

    records: list[NaturalRecord] = field(repr=False)
    """Naturally memorized addresses (unredacted: handle as sensitive data)."""
    counts: dict[str, int]
    """Per stage: ``files``, ``addresses``, ``short_prefix``, ``duplicates``,
    ``over_secret_cap``, ``candidates``, ``secrets`` (see :func:`scan_candidates`), ``eligible``
    (no rule rejects them), ``checked`` (by the model), ``reproduced`` (exactly, eligible ones
    only), ``kept``; and the near misses among the checked eligible candidates: ``first_token``
    (greedy decoding gets the first target token right), ``half_tokens`` (at least half)."""
    rejected: dict[str, int]
    """Per reason: the rules of :func:`rejection_reason`, and ``runs_on`` (reproduced, but
    greedy decoding goes on with more address characters)."""
    reproduced_rejected: dict[str, int]
    """Per rule: rejected candidates that greedy decoding reproduces anyway (only when
    ``check_rejected``)."""
    seconds: float
    """Wall-clock time of the whole run."""
    settings: dict = field(default_factory=dict)
    """The arguments of the run."""
    environment: dict = field(default_factory=dict)
    """Python, platform, packages and model of the run."""

    @property
    def urls(self) -> int:
        """Number of kept URL records."""
        return sum(r.kind == "url" for r in self.records)

    @property
    def emails(self) -> int:
        """Number of kept e-mail records."""
        return sum(r.kind == "email" for r in self.records)

    def to_dict(self) -> dict:
        """A JSON-ready summary; addresses are redacted (see :func:`redact`)."""
        return {
            "urls": self.urls,
            "emails": self.emails,
            "seconds": round(self.seconds, 1),
            "counts": self.counts,
            "rejected": self.rejected,
            "reproduced_rejected": self.reproduced_rejected,
            "kept": [
                {"subject": r.subject, "kind": r.kind, "address": redact(r.secret),
                 "source": r.source}
                for r in self.records
            ],
            "settings": self.settings,
            "environment": self.environment,
        }

    def summary(self) -> str:
        """A few lines for people; addresses are redacted."""
        c = self.counts
        lines = [
            f"scanned {c['files']} files: {c['addresses']} addresses, {c['candidates']} "
            f"candidates ({c['secrets']} distinct addresses)",
            f"rules: {c['eligible']} eligible; rejected "
            + ", ".join(f"{k} {v}" for k, v in self.rejected.items() if k != "runs_on"),
            f"model: {c['checked']} checked, {c['first_token']} with the first token right, "
            f"{c['half_tokens']} with half the tokens, {c['reproduced']} reproduced exactly "
            f"({self.rejected.get('runs_on', 0)} of them run on)",
            f"kept: {self.urls} URLs, {self.emails} e-mail addresses ({self.seconds:.0f} s)",
        ]
        lines += [f"  {r.subject}  {redact(r.secret)}  ({r.source})" for r in self.records]
        return "\n".join(lines)


def _environment(model: nn.Module) -> dict:
    import transformers

    site = Path(sysconfig.get_paths()["purelib"])
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "distributions": len(list(site.glob("*.dist-info"))) if site.is_dir() else 0,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        # the folder's name only: a local path says nothing about the model
        "model": Path(getattr(model.config, "_name_or_path", "") or model.config.model_type).name,
    }


def mine(
    model: nn.Module,
    tokenizer,
    *,
    roots=None,
    max_candidates: int = 1000,
    max_prompts_per_secret: int = 3,
    batch_size: int = 16,
    check_rejected: bool = False,
    progress: bool = True,
) -> MiningReport:
    """Find the URLs and e-mail addresses that ``model`` reproduces from their natural context.

    Scans ``roots`` (:func:`scan_candidates`), drops candidates by the rules of
    :func:`rejection_reason`, asks the model about a fixed pseudo-random sample of at most
    ``max_candidates`` of the rest (:func:`greedy_matches`) and keeps the exact reproductions.
    Kept records are ordered by kind, address and prompt; records of the same address share a
    subject (``url-0001``, ``email-0001``...), so :func:`revs.data.records.split_records` keeps
    them together.

    Args:
        model: the model, unmodified (its weights are not touched).
        tokenizer: its tokenizer.
        roots: folders to scan (see :func:`scan_candidates`); None: the standard library and the
            current environment's site-packages.
        max_candidates: most candidates the model checks: the cost of the run (about 5 per
            second for a 135M model on one CPU core).
        max_prompts_per_secret: most prompts per address.
        batch_size: prompts per forward pass.
        check_rejected: also ask the model about rule-rejected candidates (in the same sample
            and cap), to count how many of them greedy decoding reproduces anyway.
        progress: show a progress bar.
    """
    if max_candidates < 1 or batch_size < 1:
        raise ValueError("max_candidates and batch_size must be positive")
    started = time.perf_counter()
    candidates, counts = scan_candidates(roots, max_prompts_per_secret=max_prompts_per_secret)
    logger.info("scanned %d files: %d candidates in %.1f s", counts["files"], len(candidates),
                time.perf_counter() - started)
    reasons = [rejection_reason(c.prompt, c.secret, c.kind) for c in candidates]
    rejected = Counter(
        dict.fromkeys(["reserved_domain", "in_context", "generic", "part_in_context",
                       "spelled_from_context", "runs_on"], 0)
    )
    rejected.update(reason for reason in reasons if reason is not None)
    counts["eligible"] = reasons.count(None)
    pool = [(c, r) for c, r in zip(candidates, reasons, strict=True) if check_rejected or r is None]
    checked = pool[:max_candidates]  # candidates are in a fixed pseudo-random order already
    counts.update(checked=len(checked), first_token=0, half_tokens=0, reproduced=0)
    checks = greedy_matches(
        model, tokenizer, [c.prompt for c, _ in checked], [c.target for c, _ in checked],
        batch_size=batch_size, progress=progress,
    )
    kept: list[Candidate] = []
    reproduced_rejected: Counter[str] = Counter()
    for (candidate, reason), check in zip(checked, checks, strict=True):
        if reason is None:  # near misses, to tell "nothing" from "almost"
            counts["first_token"] += check.matched_tokens >= 1
            counts["half_tokens"] += 2 * check.matched_tokens >= check.target_tokens
        if not check.matched:
            continue
        if reason is not None:
            reproduced_rejected[reason] += 1
            continue
        counts["reproduced"] += 1
        following = tokenizer.decode([check.next_token])
        if runs_on(candidate.secret, candidate.kind, following):
            rejected["runs_on"] += 1
            logger.info("reproduced %s but went on with %r (%s)", redact(candidate.secret),
                        following, candidate.source)
            continue
        logger.info("reproduced %s (%s)", redact(candidate.secret), candidate.source)
        kept.append(candidate)
    kept.sort(key=lambda c: (c.kind, c.secret, c.prompt, c.source))
    subjects: dict[tuple[str, str], str] = {}
    per_kind: Counter[str] = Counter()
    for candidate in kept:
        key = (candidate.kind, candidate.secret)
        if key not in subjects:
            per_kind[candidate.kind] += 1
            subjects[key] = f"{candidate.kind}-{per_kind[candidate.kind]:04d}"
    records = [
        NaturalRecord(subjects[c.kind, c.secret], c.kind, c.prompt, c.target, c.source)
        for c in kept
    ]
    counts["kept"] = len(records)
    return MiningReport(
        records=records,
        counts=dict(counts),
        rejected=dict(rejected),
        reproduced_rejected=dict(reproduced_rejected),
        seconds=time.perf_counter() - started,
        settings={"max_candidates": max_candidates, "max_prompts_per_secret":
                  max_prompts_per_secret, "prefix_chars": PREFIX_CHARS, "head_chars": HEAD_CHARS,
                  "check_rejected": check_rejected,
                  "roots": [label for label, _ in normalize_roots(roots)]},
        environment=_environment(model),
    )
