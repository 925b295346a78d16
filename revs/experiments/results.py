"""Tidy evaluation results: one row per (method, dataset, seed, k, metric), with a cache on disk.

A row is ``{"method", "dataset", "seed", "k", "metric", "value"}``; ``k`` is ``None`` for the
metrics that do not depend on a rank threshold (:data:`revs.evaluation.scoring.K_FREE_METRICS`).
:class:`Results` holds the rows of any number of runs and what produced them (settings, package
versions, timings), aggregates them over seeds (mean and population standard deviation, as the
official code) and saves them as JSON. :func:`cache_key` names a run's cached result by
everything that can change it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..evaluation.scoring import K_FREE_METRICS, METRICS
from ..methods import CONTROLS

__all__ = [
    "SHORT_NAMES",
    "Results",
    "cache_key",
    "package_versions",
]

COLUMNS = ("method", "dataset", "seed", "k", "metric", "value")
SHORT_NAMES = {"unlearning_score": "unlearn", "logit_lens_attack": "LLA", "delta_attack": "DA",
               "perturbation_attack": "PA", "resistance_score": "resist",
               "next_token_accuracy": "NTA", "extraction_rate": "extract", "perplexity": "ppl",
               "specificity": "spec", "efficacy": "eff", "generality": "gen"}
"""Column heads of the wide tables (terminal and book)."""


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a result (recorded with every run)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("revs", "torch", "transformers", "numpy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    versions["revs_source"] = source_digest()
    return versions


def source_digest() -> str:
    """A SHA-256 (16 hex characters) of revs' own source files.

    Part of every cache key: the version number does not change with every commit, and a result
    cached by older code must not be reused.
    """
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the revs package
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(inputs: dict[str, Any]) -> str:
    """A SHA-256 (hex, 24 characters) of ``inputs`` as canonical JSON."""
    text = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass
class Results:
    """Rows of a tidy results table, and the runs that produced them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    """Per run (method, dataset, seed): settings, versions, timings, cache key."""

    def extend(self, other: Results) -> None:
        """Append another table's rows and runs."""
        self.rows.extend(other.rows)
        self.runs.extend(other.runs)

    def frame(self):
        """The rows as a pandas DataFrame with the columns ``method .. value``."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS)).astype({"k": "Int64"})

    def seed_scores(self, metrics: Sequence[str], k: int) -> dict[int, dict[str, Any]]:
        """Per split seed, each of ``metrics`` at threshold ``k``: the rows of a study's table.

        None where a run lacks a metric; metrics without a threshold as they are; ``settings``:
        where the run's config came from (``config_source``).
        """
        frame = self.frame()
        frame = frame[frame.metric.isin(metrics) & (frame.k.isna() | (frame.k == k))]
        sources = {run["seed"]: run.get("config_source") for run in self.runs}
        table = {}
        for seed, values in frame.groupby("seed"):
            found = dict(zip(values.metric, values.value, strict=True))
            table[seed] = {**{name: found.get(name) for name in metrics},
                           "settings": sources.get(seed)}
        return table

    def aggregate(self):
        """Mean and population std (ddof 0) over seeds, per (method, dataset, k, metric).

        Harmonic means (unlearning and resistance scores) are computed per run and then averaged,
        as the official code does, so they are not the harmonic mean of the averaged metrics.
        """
        frame = self.frame()
        keys = ["method", "dataset", "k", "metric"]
        grouped = frame.groupby(keys, dropna=False, sort=False)["value"]
        table = grouped.agg(mean="mean", std=lambda v: v.std(ddof=0), seeds="count")
        table = table.reset_index()
        # Methods and datasets in the order they were run; metrics in METRICS order.
        ranks = {"method": _first_seen(frame["method"]), "dataset": _first_seen(frame["dataset"]),
                 "metric": {name: i for i, name in enumerate(METRICS)}}
        for column, order in ranks.items():
            table[f"_{column}"] = table[column].map(order)
        by = ["_method", "_dataset", "_metric", "k"]
        return (table.sort_values(by, kind="stable").drop(columns=by[:3])
                .reset_index(drop=True))

    def text(self, *, k: int | None = None) -> str:
        """The aggregated table as aligned text: one line per method, dataset and metric."""
        import pandas as pd

        table = self.aggregate()
        if k is not None:
            table = table[table["k"].isna() | (table["k"] == k)]
        lines = [f"{'method':10} {'dataset':10} {'metric':22} {'k':>4} {'mean':>10} "
                 f"{'std':>8} {'seeds':>5}"]
        for row in table.itertuples(index=False):
            k_text = "-" if pd.isna(row.k) else str(int(row.k))
            lines.append(f"{row.method:10} {row.dataset:10} {row.metric:22} {k_text:>4} "
                         f"{_number(row.mean):>10} {_number(row.std):>8} {row.seeds:>5}")
        return "\n".join(lines)

    def ranking(self, metric: str = "unlearning_score", k: int | None = 100,
                controls: Sequence[str] = CONTROLS):
        """Methods ranked within each dataset by the mean of ``metric`` (1 = highest).

        A frame with columns dataset, method, mean, rank (ties share the better rank). The
        ``controls`` (the unedited model and the placebo) are reference rows, not competitors:
        they get no rank, so a rank here is the one the book's summary gives.
        """
        table = self.aggregate()
        table = table[(table["metric"] == metric)
                      & (table["k"].isna() if k is None or metric in K_FREE_METRICS
                         else table["k"] == k)
                      & ~table["method"].isin(list(controls))]
        table = table[["dataset", "method", "mean"]].copy()
        table["rank"] = (table.groupby("dataset", sort=False)["mean"]
                         .rank(ascending=False, method="min").astype(int))
        return table.sort_values(["dataset", "rank"], kind="stable").reset_index(drop=True)

    def wide_text(self, k: int = 100, rank_by: str = "unlearning_score") -> str:
        """The comparison table: one line per dataset and method, every metric at ``k``.

        Cells are mean±std over seeds; ``rank`` is the method's rank by ``rank_by`` within its
        dataset (1 = highest; ``-`` for the controls, see :meth:`ranking`).
        """
        import pandas as pd

        table = self.aggregate()
        table = table[table["k"].isna() | (table["k"] == k)]
        metrics = [m for m in METRICS if m in set(table["metric"])]
        ranks = {(r.dataset, r.method): r.rank for r in
                 self.ranking(rank_by, k).itertuples(index=False)}
        head = [f"{'dataset':8} {'method':16} {'rank':>4}"] + [
            f"{SHORT_NAMES.get(m, m)[:13]:>13}" for m in metrics]
        lines = [f"k = {k}; mean±std over seeds; rank by {rank_by}", " ".join(head)]
        cells = {(r.dataset, r.method, r.metric): (r.mean, r.std)
                 for r in table.itertuples(index=False)}
        for dataset in pd.unique(table["dataset"]):
            for method in pd.unique(table["method"]):
                if (dataset, method) not in ranks and not any(
                        (dataset, method, m) in cells for m in metrics):
                    continue
                row = [f"{dataset:8} {method:16} {ranks.get((dataset, method), '-'):>4}"]
                for metric in metrics:
                    mean, std = cells.get((dataset, method, metric), (None, None))
                    text = "-" if mean is None else (
                        f"{mean:.2f}±{std:.2f}" if abs(mean) >= 10 else f"{mean:.3f}±{std:.3f}")
                    row.append(f"{text:>13}")
                lines.append(" ".join(row))
        return "\n".join(lines)

    def mixed_models(self) -> list[str]:
        """One sentence per dataset whose runs edited more than one model, else none.

        A memorized testbed is rebuilt on each machine and its weights can differ between CPUs;
        a table whose rows for one dataset start from different weights compares more than the
        methods. Runs record a digest of the weights they loaded (``machine.weights``, from
        8f03e42 on); a dataset whose runs record two or more digests is named, with how many
        runs carry each. Older runs without a digest prove nothing either way: they are counted
        in the sentence but never cause one.
        """
        by_dataset: dict[str, dict[str, int]] = {}
        for run in self.runs:
            weights = (run.get("machine") or {}).get("weights") or "without a digest"
            counts = by_dataset.setdefault(run["dataset"], {})
            counts[weights] = counts.get(weights, 0) + 1
        sentences = []
        for dataset, counts in by_dataset.items():
            digests = [weights for weights in counts if weights != "without a digest"]
            if len(digests) < 2:
                continue
            parts = ", ".join(f"{n} run{'s' * (n != 1)} {weights}"
                              for weights, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            sentences.append(f"{dataset}: runs edited {len(digests)} different models ({parts});"
                             " recompute the odd ones on one machine to compare methods alone")
        return sentences

    def to_json(self) -> dict[str, Any]:
        """``{"rows": [...], "runs": [...]}``; NaN values become ``None``."""
        return {"rows": [_clean(row) for row in self.rows], "runs": self.runs}

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1, default=str) + "\n",
                              encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a file written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "rows" not in data:
            raise ValueError(f"{path} is not a revs results file (no 'rows')")
        return cls(rows=list(data["rows"]), runs=list(data.get("runs", [])))

    @classmethod
    def concat(cls, parts: Iterable[Results]) -> Results:
        """One table from several."""
        out = cls()
        for part in parts:
            out.extend(part)
        return out


def rows_for(method: str, dataset: str, seed: int, values: dict[tuple[str, int | None], float],
             ) -> list[dict[str, Any]]:
    """Tidy rows from ``{(metric, k): value}``, in :data:`METRICS` order then by ``k``."""
    order = {name: i for i, name in enumerate(METRICS)}
    keys = sorted(values, key=lambda mk: (order.get(mk[0], len(order)), mk[1] or 0))
    return [{"method": method, "dataset": dataset, "seed": seed, "k": k, "metric": metric,
             "value": float(values[(metric, k)])} for metric, k in keys]


def _first_seen(values) -> dict[Any, int]:
    return {value: i for i, value in enumerate(dict.fromkeys(values))}


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    value = row["value"]
    return {**row, "value": None if value is None or math.isnan(value) else value}


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.2f}"


def check_thresholds(ks: Sequence[int], d_vocab: int | None, candidates: int) -> tuple[int, ...]:
    """``ks`` as a sorted tuple, or a ValueError when one is not a usable rank threshold.

    ``d_vocab=None`` checks what can be checked before a model is loaded.
    """
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks:
        raise ValueError("give at least one rank threshold k")
    limit = "" if d_vocab is None else f" <= {d_vocab}"
    for k in ks:
        if k < 1 or (d_vocab is not None and k > d_vocab):
            raise ValueError(f"k = {k} is not a rank threshold for this model's vocabulary: use "
                             f"1 <= k{limit}")
        if k > candidates:
            raise ValueError(f"k = {k} exceeds the delta attack's candidate list ({candidates});"
                             f" raise delta_candidates to at least {k}")
    return ks
