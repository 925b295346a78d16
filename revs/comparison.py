"""Our comparison with the baselines beside the paper's reported numbers.

The measured table is stored by ``revs evaluate ... --out data/results/<name>.json`` (72 runs,
hours of CPU: the book reads it instead of recomputing it); the paper's numbers are data with
their source in ``data/paper/README.md``. Neither is ever typed into a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import REVSConfig
from .data.records import Split
from .resources import data_path
from .results import Results

__all__ = [
    "COMPARISON_DATASETS",
    "COMPARISON_SEEDS",
    "PAPER_RESULTS",
    "STORED_RESULTS",
    "beside_paper",
    "collateral",
    "collateral_steps",
    "coverage",
    "shared_tokens",
    "paper_results",
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
    :data:`revs.results.METRICS` (those measured). Ranks are within each dataset, 1 = highest.
    """
    from .results import METRICS

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

    from .methods import METHODS

    present = {(row["method"], row["dataset"], row["seed"]) for row in results.rows}
    methods = list(methods or METHODS)
    counts = [[sum((m, d, s) in present for s in seeds) for d in datasets] for m in methods]
    return pd.DataFrame(counts, index=pd.Index(methods, name="method"), columns=list(datasets))


def shared_tokens(tokenizer, split: Split, config: REVSConfig | None = None):
    """Which retained secrets contain a token that REVS unlearns for the forget split.

    REVS demotes a token in the neurons that write it, whatever the context, so a retained
    secret made partly of the same token is put at risk. One row per retained subject:
    ``subject``, ``secret``, ``shared`` (the texts of the unlearned tokens among its tokens),
    ``n_shared``. The unlearned tokens are ``config``'s selection (default: the paper's).
    """
    import pandas as pd

    from .targets import tokens_for

    config = config or REVSConfig()
    unlearned = {t.token_id: t.text for r in split.forget for t in tokens_for(tokenizer, r, config)}
    every_token = REVSConfig(max_tokens=None, skip=(), stop=(), skip_whitespace=False)
    rows, seen = [], set()
    for record in split.retain:
        if record.subject in seen:
            continue
        seen.add(record.subject)
        ids = {t.token_id for t in tokens_for(tokenizer, record, every_token)}
        shared = sorted(unlearned[i] for i in ids & unlearned.keys())
        rows.append((record.subject, record.secret, shared, len(shared)))
    return pd.DataFrame(rows, columns=["subject", "secret", "shared", "n_shared"])


def collateral(model, tokenizer, split: Split, config: REVSConfig | None = None):
    """Forget the split's secrets one at a time with REVS and watch the retained ones break.

    Before the first and after each forgotten secret, greedy decoding from every retained prompt
    is checked against its secret (teacher-forced, :func:`revs.generation.greedy_matches_ids`):
    does it still write the secret, and if not, which token does it get wrong first? If REVS's
    collateral damage is token-level, that token is one REVS has demoted for a forgotten secret.
    REVS edits one target after another anyway, so after the last step the model holds the edits
    of one :func:`revs.unlearn` call on the whole forget split (``"contrastive"`` scores see the
    other forget secrets as their contrast, as there). The model is edited in place and restored
    bit-exactly at the end, also on error.

    Returns one row per step and retained record: ``forgotten`` (secrets forgotten so far),
    ``subject``, ``secret``, ``unlearned`` (texts of the tokens demoted so far), ``reproduced``,
    ``broken_at`` (the first wrong token's text; empty when reproduced), ``at_unlearned`` (that
    token was demoted) and ``shares`` (the secret contains a demoted token).
    """
    import pandas as pd

    from .edit import revert_edits_
    from .generation import encode, greedy_matches_ids
    from .unlearn import unlearn

    config = config or REVSConfig()
    pairs = [encode(tokenizer, record) for record in split.retain]
    demoted: dict[int, str] = {}
    edits, rows = [], []
    try:
        for step in range(len(split.forget) + 1):
            if step:
                others = split.forget[:step - 1] + split.forget[step:]
                result = unlearn(model, tokenizer, [split.forget[step - 1]], config,
                                 contrast=others, progress=False)
                edits += result.edits
                demoted |= {t.token_id: t.text for t in result.tokens if t.neurons}
            checks = greedy_matches_ids(model, [p for p, _ in pairs], [t for _, t in pairs],
                                        pad_id=tokenizer.pad_token_id or 0)
            unlearned = tuple(sorted(demoted.values()))
            for record, (_, target), check in zip(split.retain, pairs, checks, strict=True):
                wrong = None if check.matched else target[check.matched_tokens]
                rows.append({
                    "forgotten": step, "subject": record.subject, "secret": record.secret,
                    "unlearned": unlearned, "reproduced": check.matched,
                    "broken_at": "" if wrong is None else tokenizer.decode([wrong]),
                    "at_unlearned": wrong in demoted, "shares": bool(demoted.keys() & set(target)),
                })
    finally:
        revert_edits_(model, edits)
    return pd.DataFrame(rows)


def collateral_steps(trace):
    """The rows of :func:`collateral` summed up per step.

    Columns: ``forgotten``, ``demoted`` (the tokens this step's secret had demoted, quoted),
    ``kept`` (share of retained records still written), ``broken`` (how many are not) and
    ``at_unlearned`` (share of those whose first wrong token is a demoted one; NaN when none
    break).
    """
    broken = ~trace.reproduced
    steps = trace.assign(broken=broken,
                         at_unlearned=trace.at_unlearned.astype(float).where(broken))
    steps = steps.groupby("forgotten", as_index=False).agg(
        unlearned=("unlearned", "first"), kept=("reproduced", "mean"), broken=("broken", "sum"),
        at_unlearned=("at_unlearned", "mean"))
    before = [(), *steps.unlearned[:-1]]
    demoted = [" ".join(repr(t) for t in now if t not in set(was))
               for was, now in zip(before, steps.unlearned, strict=True)]
    steps.insert(1, "demoted", demoted)
    return steps.drop(columns="unlearned")
