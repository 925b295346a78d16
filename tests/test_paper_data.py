"""The paper's reported numbers (data/paper) use this project's method and metric names."""

import csv
from pathlib import Path

from revs.evaluation.scoring import K_FREE_METRICS, METRICS
from revs.methods import METHODS

PAPER = Path(__file__).resolve().parents[1] / "data" / "paper" / "revs-llama3-8b.csv"


def test_paper_table_names_and_ranges():
    rows = list(csv.DictReader(PAPER.open(encoding="utf-8")))
    assert {r["dataset"] for r in rows} == {"ssn", "emails", "urls"}
    assert {r["method"] for r in rows} <= set(METHODS)
    for row in rows:
        assert row["metric"] in METRICS
        assert (row["k"] == "") == (row["metric"] in K_FREE_METRICS)
        assert 0 <= float(row["mean"]) <= 1 and 0 <= float(row["std"]) <= 1
    revs_ssn = {r["metric"]: float(r["mean"]) for r in rows
                if r["dataset"] == "ssn" and r["method"] == "revs"}
    assert revs_ssn["unlearning_score"] == 0.8958  # the paper's headline number
    assert len({(r["dataset"], r["method"], r["metric"]) for r in rows}) == len(rows)
