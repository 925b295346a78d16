"""The reproduction ledger: each claim of the paper beside the value measured here.

A claim is a sentence of the paper's results about REVS (its main table, Llama-3-8B, k = 100),
checked against a results table of ``revs evaluate`` on the same datasets. The paper's side is
read from :data:`revs.report.comparison.PAPER_RESULTS` (or is the paper's own words, for the claims
without a number in its table); ours is computed from the results. Nothing is typed in by hand.
"""

from __future__ import annotations

from ..experiments.results import Results
from ..methods import BASELINES
from .comparison import DATASET_NAMES, _in_words, paper_results

__all__ = ["disagreements", "firsts", "ledger"]

def _ranks(table, metric: str):
    """Rank (1 = highest mean) of REVS and each baseline by ``metric``, per dataset.

    The controls (the unedited model, the ``random-neurons`` placebo) are not methods: the
    paper's claims rank REVS among the six baselines.
    """
    rows = table[(table["metric"] == metric) & table["method"].isin(("revs", *BASELINES))]
    ranks = rows.groupby("dataset")["mean"].rank(ascending=False, method="min").astype(int)
    return dict(zip(zip(rows["dataset"], rows["method"], strict=True), ranks, strict=True))


def _cells(table):
    return {(r.dataset, r.method, r.metric): (r.mean, r.std) for r in table.itertuples()}


def _margin(cells, dataset: str, metric: str) -> float | None:
    """REVS's mean minus the best baseline's mean (None when one of them is missing)."""
    baselines = [cells[dataset, m, metric][0] for m in BASELINES if (dataset, m, metric) in cells]
    if (dataset, "revs", metric) not in cells or not baselines:
        return None
    return cells[dataset, "revs", metric][0] - max(baselines)


def _value(cell) -> str:
    return "—" if cell is None else f"{cell[0]:.3f} ± {cell[1]:.3f}"


def ledger(results: Results, *, k: int = 100):
    """The paper's claims about REVS beside ours: one row per claim and dataset.

    Columns: ``claim``, ``dataset``, ``paper``, ``ours`` (text, scores in [0, 1], mean ± std
    over seeds), ``agrees``: whether our measurement agrees with the paper (True / False), or
    ``None`` where ours is missing; ``ours_is``: ``"higher"``, ``"lower"`` or ``"equal"`` to the
    paper's mean for the value claims (else ``None``). A value (REVS's efficacy, generality,
    specificity, unlearning score) agrees when ours lies within two of the paper's standard
    deviations of the paper's mean, better or worse; a rank claim agrees when REVS's rank among
    itself and the baselines satisfies it.
    """
    import pandas as pd

    ours = results.aggregate()
    ours = ours[ours["k"].isna() | (ours["k"] == k)]
    paper = paper_results()
    paper = paper[paper["k"].isna() | (paper["k"] == k)]
    our_cells, paper_cells = _cells(ours), _cells(paper)
    our_ranks = _ranks(ours, "unlearning_score")
    paper_ranks = _ranks(paper, "unlearning_score")
    resistance_ranks = _ranks(ours, "resistance_score")
    rows = []
    for dataset in pd.unique(paper["dataset"]):
        rank = our_ranks.get((dataset, "revs"))
        rows.append(("REVS has the highest unlearning score of all methods", dataset,
                     f"rank {paper_ranks[dataset, 'revs']}",
                     "—" if rank is None else f"rank {rank}", None if rank is None else rank == 1,
                     None))
        paper_margin = _margin(paper_cells, dataset, "unlearning_score")
        margin = _margin(our_cells, dataset, "unlearning_score")
        rows.append(("REVS's unlearning score exceeds the best baseline's", dataset,
                     f"by {paper_margin:+.3f}", "—" if margin is None else f"by {margin:+.3f}",
                     None if margin is None else margin > 0, None))
        for metric in ("unlearning_score", "efficacy", "generality", "specificity"):
            claimed = paper_cells.get((dataset, "revs", metric))
            if claimed is None:
                continue
            measured = our_cells.get((dataset, "revs", metric))
            agrees = None if measured is None else abs(measured[0] - claimed[0]) <= 2 * claimed[1]
            name = metric.replace("_", " ") + ("" if metric == "specificity" else f" at k = {k}")
            side = (None if measured is None else "higher" if measured[0] > claimed[0]
                    else "lower" if measured[0] < claimed[0] else "equal")
            rows.append((f"REVS's {name}", dataset, _value(claimed), _value(measured), agrees,
                         side))
        rank = resistance_ranks.get((dataset, "revs"))
        rows.append(("REVS has the highest resistance score of all methods", dataset,
                     "rank 1 or 2 (the paper's words)", "—" if rank is None else f"rank {rank}",
                     None if rank is None else rank == 1, None))
        rows.append(("REVS has the highest or second-highest resistance score", dataset,
                     "rank 1 or 2 (the paper's words)", "—" if rank is None else f"rank {rank}",
                     None if rank is None else rank <= 2, None))
    return pd.DataFrame(rows, columns=["claim", "dataset", "paper", "ours", "agrees", "ours_is"])


def disagreements(claims) -> str:
    """The value claims that disagree, in words, from a :func:`ledger` table.

    E.g. ``"REVS's specificity on ssn, emails and urls (ours lower); REVS's efficacy at k = 100
    on emails (ours higher)"``, in the ledger's order; ``"none"`` when every value agrees.
    """
    wrong = claims[(claims["agrees"] == False) & claims["ours_is"].notna()]  # noqa: E712
    groups: dict[tuple[str, str], list[str]] = {}
    for row in wrong.itertuples():
        groups.setdefault((row.claim, row.ours_is), []).append(row.dataset)
    return "; ".join(f"{claim} on {_in_words(datasets)} (ours {side})"
                     for (claim, side), datasets in groups.items()) or "none"


FIRST_CLAIMS = {"the unlearning score": "REVS has the highest unlearning score of all methods",
                "the resistance score": "REVS has the highest resistance score of all methods"}
"""The ledger's rank claims that :func:`firsts` reads, by the score they rank on."""


def firsts(claims) -> str:
    """Per score of :data:`FIRST_CLAIMS`, the datasets where REVS ranks first, in words.

    From a :func:`ledger` table, e.g. ``"REVS ranks first by the unlearning score on e-mails
    and URLs (not on SSNs: rank 6) and by the resistance score on SSNs, e-mails and URLs"``;
    datasets not measured yet are named as such.
    """
    parts = []
    for score, claim in FIRST_CLAIMS.items():
        rows = claims[claims["claim"] == claim]
        first, behind, missing = [], [], []
        for row in rows.itertuples():
            name = DATASET_NAMES.get(row.dataset, row.dataset)
            if row.agrees is None:
                missing.append(name)
            elif row.agrees:
                first.append(name)
            else:
                behind.append(f"{name}: {row.ours}")
        text = f"by {score} on {_in_words(first)}" if first else f"by {score} on none"
        notes = ([f"not on {_in_words(behind)}"] if behind and first else
                 [f"{_in_words(behind)}"] if behind else [])
        notes += [f"{_in_words(missing)} not measured yet"] if missing else []
        parts.append(text + (f" ({'; '.join(notes)})" if notes else ""))
    return "REVS ranks first " + " and ".join(parts)
