"""The committed stores of finished runs hold exactly the runs the book and `make reproduce` ask
for, under today's keys, so a fresh machine computes none of them.

A run's store key covers every input but revs' own source (`revs.experiments.runner.store_key`):
a change of a stored sweep, a grid or a default silently turns a committed run into an orphan
and makes `make book` recompute it for an hour. These tests read keys only, never a model.
"""

from pathlib import Path

import pytest

import revs.experiments.runner as runner
from revs.experiments import forget_count, sharing_study
from revs.experiments.results import Results
from revs.experiments.tuning import VALIDATION_DATASETS
from revs.methods import METHODS
from revs.resources import data_path

COMPARISON = data_path("results", "runs", "comparison")
SEEDS = [0, 1, 2]


@pytest.fixture(autouse=True)
def no_cache(monkeypatch, tmp_path):
    """Runs must come from the store, not from this machine's cache of results."""
    monkeypatch.setattr(runner, "cache_dir", lambda: tmp_path)


def _stored_files(store: Path) -> int:
    return len(list(Path(store).glob("*.json")))


def _one_model_per_testbed(runs: list[dict]) -> None:
    results = Results([], runs)
    assert results.mixed_models() == []
    assert all((run.get("machine") or {}).get("weights") for run in runs), (
        "every run records the weights it edited")


def test_the_comparison_store_holds_every_run_of_make_reproduce():
    runs = []
    for dataset in VALIDATION_DATASETS:  # the Makefile's `reproduce` target: every method
        for method in METHODS:
            found = runner.evaluate(method, dataset, SEEDS, store=COMPARISON,
                                    compute_missing=False)
            assert sorted(r["seed"] for r in found.runs) == SEEDS, (method, dataset)
            runs += found.runs
    assert _stored_files(COMPARISON) == len(runs) == 81  # no orphan run under an old key
    assert Results([], runs).mixed_models() == []


@pytest.mark.parametrize("module, study, variants, expected", [
    (sharing_study, sharing_study.sharing_study, sharing_study.POOL_SIZES, 60),
    (forget_count, forget_count.forget_count_study, forget_count.COUNTS, 24),
])
def test_each_chapter_9_store_holds_every_run_of_its_study(module, study, variants, expected):
    rows = study(variants, seeds=SEEDS, store=module.STORE, compute_missing=False)
    assert len(rows) == len(variants) * len(module.METHODS) * len(SEEDS) == expected
    assert _stored_files(module.STORE) == expected


def test_the_sharing_studys_runs_edit_one_model_per_pool():
    # The forget-count runs (c8dc881-dirty) predate the weights digest, so only this store is held
    # to recording it.
    _one_model_per_testbed([Results.load(path).runs[0]
                            for path in sorted(sharing_study.STORE.glob("*.json"))])
