"""What the ``revs`` command checks before it loads a model's weights or computes an edit.

Settings from ``--set`` (types, ranges, layers within the model), a targets file (every row,
named by its 1-based row or line), prompt + secret length against the model's context, and which
secrets the model actually produces. Each check raises ``ValueError`` with one line that says
what to change; nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from .config import REVSConfig
from .data.records import Record, located_records
from .evaluation.generation import exact_reproduction
from .layout import config_dimensions
from .model import load_config, load_tokenizer
from .tokens import encode
from .unlearn import plan_tokens

__all__ = ["Targets", "check_settings", "check_targets", "model_facts", "not_produced",
           "parse_settings", "settings"]


def parse_settings(items: Sequence[str]) -> dict:
    """REVS settings from ``KEY=VALUE`` strings (``--set``), by field name.

    Values are JSON (a bare word is a string); lists become tuples. Only the keys are checked
    here: :func:`settings` checks the values on a config.
    """
    known = {f.name for f in dataclasses.fields(REVSConfig)}
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise ValueError(
                f"--set expects KEY=VALUE with KEY one of {sorted(known)}, got {item!r}"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare string, e.g. --set score_method=contrastive
        values[key] = tuple(value) if isinstance(value, list) else value
    return values


def settings(items: Sequence[str], base: REVSConfig | None = None) -> REVSConfig:
    """``base`` (default :class:`REVSConfig`) changed by ``KEY=VALUE`` strings.

    The strings are read by :func:`parse_settings`; a value the config rejects is a ValueError.
    """
    try:
        return dataclasses.replace(base or REVSConfig(), **parse_settings(items))
    except (TypeError, ValueError) as error:
        raise ValueError(f"--set: {error}") from None


def check_settings(config: REVSConfig, model: str | None) -> dict:
    """Check ``config`` against the model's vocabulary and layers, read from its config alone.

    Returns the model's dimensions (:func:`revs.layout.config_dimensions`).
    """
    dims = config_dimensions(load_config(model))
    config.validate(dims["d_vocab"], dims["n_layers"])
    return dims


def model_facts(model: str | None):
    """``(tokenizer, dimensions)`` of a model, read without its weights.

    ``dimensions``: ``n_layers``, ``context`` and ``d_vocab``
    (:func:`revs.layout.config_dimensions`).
    """
    return load_tokenizer(model), config_dimensions(load_config(model))


@dataclasses.dataclass(frozen=True)
class Targets:
    """The records of a targets file, each with where it stands (``secrets.csv, row 3``)."""

    records: list[Record]
    labels: list[str]


def check_targets(path: str | Path, tokenizer, dims: dict, *, config: REVSConfig) -> Targets:
    """Read a targets file and check it against the settings and the model's context.

    Raises:
        ValueError: an unreadable file or row, settings the model cannot take, duplicate
            targets, a secret with nothing to unlearn, or a prompt and secret longer than the
            model's context; the message names the file and the row.
    """
    config.validate(dims["d_vocab"], dims["n_layers"])
    located = located_records(path)
    name = Path(path).name
    targets = Targets([record for _, record in located], [f"{name}, {w}" for w, _ in located])
    plan_tokens(tokenizer, targets.records, config, labels=targets.labels)
    context = dims["context"]
    for label, record in zip(targets.labels, targets.records, strict=True):
        prompt_ids, secret_ids = encode(tokenizer, record)
        if context is not None and len(prompt_ids) + len(secret_ids) > context:
            raise ValueError(
                f"{label}: prompt and secret are {len(prompt_ids) + len(secret_ids)} tokens, more "
                f"than the model reads ({context}): keep the end of the prompt, where the secret "
                "follows"
            )
    return targets


def not_produced(model, tokenizer, records: Sequence[Record]) -> list[int]:
    """Indices of the records whose secret greedy decoding does not write after the prompt."""
    produced = exact_reproduction(model, tokenizer, records)
    return [i for i, yes in enumerate(produced.tolist()) if not yes]
