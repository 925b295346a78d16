"""Our comparison with the baselines beside the paper's reported numbers.

The measured table is stored by ``revs evaluate ... --out data/results/<name>.json`` (72 runs,
hours of CPU: the book reads it instead of recomputing it); the paper's numbers are data with
their source in ``data/paper/README.md``. Neither is ever typed into a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..evaluation.scoring import METRICS
from ..experiments.results import Results
from ..methods import METHODS
from ..resources import data_path

__all__ = [
    "COMPARISON_DATASETS",
    "COMPARISON_SEEDS",
    "PAPER_RESULTS",
    "STORED_RECORDS",
    "STORED_RESULTS",
    "beside_paper",
    "coverage",
    "paper_results",
    "stored_records",
    "stored_results",
    "summary",
]

PAPER_RESULTS = data_path("paper", "revs-llama3-8b.csv")
"""The paper's Llama-3-8B table at k = 100 (project page, 2025-05-24), scores in [0, 1]."""
STORED_RESULTS = data_path("results")
"""Where ``revs evaluate --out`` results the book reads are kept."""

COMPARISON_DATASETS = ("ssn", "emails", "urls")
"""The memorized testbeds of the comparison (the paper's three datasets)."""
COMPARISON_SEEDS = (0, 1, 2)
"""Split seeds of the comparison."""

HEADLINE = ("unlearning_score", "efficacy", "generality", "specificity")
"""The metrics the paper's main table reports (besides MMLU and GSM8K)."""


STORED_RECORDS = {"ssn": "ssn", "emails": "emails-hard", "urls": "urls-hard"}
"""What the stored comparison's rows ran on (it predates the datasets' own token rules): its
``emails`` and ``urls`` rows are today's ``emails-hard`` and ``urls-hard``, read under the SSN
rule by every method and every score."""


def stored_records(name: str, **kwargs) -> list:
    """The records a dataset row of the stored comparison ran on, under the rule it used.

    ``kwargs`` go to :func:`revs.data.load_dataset` (e.g. ``n_subjects``).
    """
    from ..data import load_dataset, with_rule

    return with_rule(load_dataset(STORED_RECORDS[name], **kwargs), "ssn")


def paper_results():
    """The paper's numbers: columns ``dataset, method, metric, k, mean, std`` (k 100 or NA)."""
    import pandas as pd

    return pd.read_csv(PAPER_RESULTS).astype({"k": "Int64"})


def stored_results(name: str = "comparison-smollm2-135m") -> Results:
    """A results file of :data:`STORED_RESULTS`, by name (without ``.json``)."""
    path = STORED_RESULTS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no stored results {path}: compute them with revs evaluate ... --out {path}")
    return Results.load(path)


def beside_paper(results: Results, *, k: int = 100, metrics: Sequence[str] = HEADLINE):
    """Our mean and std over seeds next to the paper's, per dataset, method and metric.

    Columns: ``dataset, method, metric, ours, ours_std, paper, paper_std``; rows for every
    (dataset, method, metric) measured here, with the paper's values missing (NA) where the
    paper reports none (e.g. generality on e-mails, the unedited URL row).
    """
    ours = results.aggregate()
    ours = ours[ours["metric"].isin(metrics) & (ours["k"].isna() | (ours["k"] == k))]
    ours = ours.rename(columns={"mean": "ours", "std": "ours_std"})
    paper = paper_results()
    paper = paper[paper["metric"].isin(metrics) & (paper["k"].isna() | (paper["k"] == k))]
    paper = paper.rename(columns={"mean": "paper", "std": "paper_std"})
    keys = ["dataset", "method", "metric"]
    merged = ours[[*keys, "ours", "ours_std"]].merge(paper[[*keys, "paper", "paper_std"]],
                                                      on=keys, how="left")
    return merged.reset_index(drop=True)


def summary(results: Results, *, k: int = 100):
    """One row per dataset and method: its rank by unlearning score, then every metric's mean.

    Metrics that depend on a rank threshold are taken at ``k``; columns follow
    :data:`revs.evaluation.scoring.METRICS` (those measured). Ranks are within each dataset,
    1 = highest.
    """
    table = results.aggregate()
    table = table[table["k"].isna() | (table["k"] == k)]
    wide = table.pivot_table(index=["dataset", "method"], columns="metric", values="mean",
                             sort=False)
    wide = wide[[m for m in METRICS if m in wide.columns]]
    ranks = results.ranking("unlearning_score", k).set_index(["dataset", "method"])["rank"]
    wide.insert(0, "rank", ranks.reindex(wide.index).astype("Int64"))
    wide.columns.name = None
    return wide.reset_index()


def coverage(results: Results, methods: Sequence[str] | None = None,
             datasets: Sequence[str] = COMPARISON_DATASETS,
             seeds: Sequence[int] = COMPARISON_SEEDS):
    """How many of the comparison's seeds ``results`` holds, per method (rows) and dataset.

    ``methods`` default to every registered method (the unedited model included); a complete
    table has ``len(seeds)`` everywhere.
    """
    import pandas as pd

    present = {(row["method"], row["dataset"], row["seed"]) for row in results.rows}
    methods = list(methods or METHODS)
    counts = [[sum((m, d, s) in present for s in seeds) for d in datasets] for m in methods]
    return pd.DataFrame(counts, index=pd.Index(methods, name="method"), columns=list(datasets))
