"""Our comparison with the baselines beside the paper's reported numbers.

The measured table is stored by ``make reproduce`` (``revs evaluate ... --out
data/results/<name>.json``: 81 runs, hours of CPU, so the book reads it instead of recomputing
it); the paper's numbers are data with their source in ``data/paper/README.md``. Neither is
ever typed into a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..evaluation.scoring import METRICS
from ..experiments.results import Results
from ..methods import BASELINES, METHODS
from ..resources import data_path

__all__ = [
    "COMPARISON_DATASETS",
    "COMPARISON_SEEDS",
    "PAPER_RESULTS",
    "STORED_RESULTS",
    "beside_paper",
    "coverage",
    "one_model_text",
    "paper_results",
    "placebo_reading",
    "standing",
    "standing_text",
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
    :data:`revs.evaluation.scoring.METRICS` (those measured). Ranks are within each dataset
    among REVS and the baselines, 1 = highest; the controls (:data:`revs.methods.CONTROLS`: the
    unedited model and the placebo) have none.
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


def standing(table, metric: str = "unlearning_score", *, k: int = 100, method: str = "revs"):
    """Where ``method`` stands among REVS and the baselines by ``metric``, per dataset.

    ``table``: a :class:`Results` or a frame like its ``aggregate()`` (e.g.
    :func:`paper_results`). Columns: ``dataset, rank, of, mean, best, best_mean``: the method's
    rank (1 = highest, ties share the better rank), how many methods are ranked, its mean, and
    the best of the others with their mean. Datasets without the method are left out.
    """
    import pandas as pd

    if isinstance(table, Results):
        table = table.aggregate()
    rows = table[(table["metric"] == metric) & (table["k"].isna() | (table["k"] == k))
                 & table["method"].isin(("revs", *BASELINES))]
    out = []
    for dataset, group in rows.groupby("dataset", sort=False):
        means = group.set_index("method")["mean"].dropna()
        if method not in means:
            continue
        others = means.drop(method)
        out.append((dataset, int((means > means[method]).sum()) + 1, len(means), means[method],
                    others.idxmax() if len(others) else None,
                    others.max() if len(others) else float("nan")))
    return pd.DataFrame(out, columns=["dataset", "rank", "of", "mean", "best", "best_mean"])


DATASET_NAMES = {"ssn": "SSNs", "emails": "e-mails", "urls": "URLs"}
"""How the book's sentences name the comparison's datasets."""
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth")


def standing_text(standing_table, method: str = "REVS") -> str:
    """A :func:`standing` table in words, one clause per dataset.

    E.g. ``"first of 7 on e-mails (0.835; the next, head-projection, 0.787) and sixth of 7 on
    SSNs (0.000; the first, head-projection, 0.132)"``.
    """
    clauses = []
    for row in standing_table.itertuples(index=False):
        place = _ORDINALS[row.rank - 1] if row.rank <= len(_ORDINALS) else f"number {row.rank}"
        other = "the next" if row.rank == 1 else "the first"
        clauses.append(f"{place} of {row.of} on {DATASET_NAMES.get(row.dataset, row.dataset)} "
                       f"({row.mean:.3f}; {other}, {row.best}, {row.best_mean:.3f})")
    return _in_words(clauses) if clauses else f"not measured ({method} has no row)"


PLACEBO_FLOOR = 0.95
"""The placebo's specificity below which a testbed counts as fragile (issue 24's bar)."""


def placebo_reading(table, *, floor: float = PLACEBO_FLOOR) -> str:
    """The placebo's specificity beside REVS's, per dataset, and what it says, in words.

    ``table``: :func:`summary`'s table (indexed by dataset and method or not). Where the
    placebo keeps at least ``floor`` of the retained secrets on every dataset, editing as many
    neurons at random is nearly free and what REVS loses beyond it follows its tokens; else the
    datasets where it does not are named as fragile.
    """
    if "dataset" in table.columns:
        table = table.set_index(["dataset", "method"])
    rows = [(d, table.loc[(d, "random-neurons"), "specificity"],
             table.loc[(d, "revs"), "specificity"])
            for d in dict.fromkeys(table.index.get_level_values("dataset"))
            if (d, "random-neurons") in table.index and (d, "revs") in table.index]
    if not rows:
        return "the placebo and REVS are not both measured yet"
    names = [DATASET_NAMES.get(d, d) for d, _, _ in rows]
    placebo = _in_words([f"{p:.2f} on {n}" for (_, p, _), n in zip(rows, names, strict=True)])
    revs = _in_words([f"{r:.2f}" for _, _, r in rows])
    fragile = [n for (_, p, _), n in zip(rows, names, strict=True) if p < floor]
    verdict = (f"the placebo itself loses retained secrets on {_in_words(fragile)} (below "
               f"{floor:.2f}): there the testbed is fragile" if fragile else
               "editing as many neurons at random costs the retained secrets almost nothing, "
               "so what REVS loses beyond the placebo follows the tokens it picks")
    return f"the placebo's specificity is {placebo}, REVS's {revs}: {verdict}"


def _in_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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


def one_model_text(results: Results) -> str:
    """Whether each dataset's runs edited one memorized model, as a sentence for the book.

    From the weights digest runs record (:meth:`Results.mixed_models`): a table whose rows of one
    dataset started from different weights would compare machines as well as methods.
    """
    mixed = results.mixed_models()
    if mixed:
        return "Not every dataset's runs edited the same model: " + "; ".join(mixed) + "."
    recorded = sum(bool((run.get("machine") or {}).get("weights")) for run in results.runs)
    older = len(results.runs) - recorded
    if not older:
        return (f"All {recorded} runs record a digest of the weights they edited, and within each "
                "dataset the digests agree: the methods edited the same memorized model.")
    return (f"{recorded} of the {len(results.runs)} runs record a digest of the weights they "
            f"edited ({older} older run{'s' * (older != 1)} predate{'s' * (older == 1)} it), and "
            "within each dataset the digests recorded agree.")
