"""Swept hyperparameters: stored as data, read back as the method's config, tuned on secrets the
test tables never score."""

import dataclasses
import json

import pytest

from revs.data import load_dataset
from revs.experiments import tuning
from revs.methods import get_method
from revs.methods.memit import MEMITConfig


def test_validation_testbed_shares_no_secret_with_the_test_testbed():
    validation = tuning.validation_records()
    test = load_dataset("ssn")
    assert not {r.target for r in validation} & {r.target for r in test}
    assert not {r.prompt for r in validation} & {r.prompt for r in test}


def test_tuned_config_reads_what_a_sweep_stores(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    assert tuning.tuned_config("memit") is None
    chosen = dataclasses.replace(MEMITConfig(), v_lr=2.0, layers=(2, 3))
    (tmp_path / "memit-smollm2-135m.json").write_text(
        json.dumps({"config": dataclasses.asdict(chosen)}))
    assert tuning.tuned_config("memit") == chosen
    assert tuning.tuned_config("memit", "/models/other-model") is None


@pytest.mark.parametrize("path", sorted(tuning.HPARAMS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_stored_sweep_is_a_valid_config_with_its_trials(path):
    stored = json.loads(path.read_text())
    config = tuning.tuned_config(stored["method"])
    assert type(config) is type(get_method(stored["method"]).default_config())
    assert stored["trials"] and stored["validation"] == tuning.VALIDATION
    best = max(t["scores"]["unlearning_score"] for t in stored["trials"])
    chosen = next(t for t in stored["trials"] if t["overrides"] == stored["chosen"])
    assert chosen["scores"]["unlearning_score"] == best


def test_every_baseline_has_a_sweep_grid_of_real_settings():
    for method, grid in tuning.GRIDS.items():
        default = get_method(method).default_config()
        for overrides in grid:
            dataclasses.replace(default, **overrides)  # unknown names would raise
    assert set(tuning.GRIDS) == {"ft-l", "memit", "npo-kl", "rmu", "max-entropy",
                                 "head-projection"}
