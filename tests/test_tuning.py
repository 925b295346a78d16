"""Swept hyperparameters: stored as data, read back as the method's config, tuned per dataset on
secrets the test tables never score."""

import dataclasses
import json
from types import SimpleNamespace

import pytest

from revs.cli import main
from revs.config import REVSConfig
from revs.data import load_dataset
from revs.experiments import tuning
from revs.methods import get_method
from revs.methods.memit import MEMITConfig


@pytest.mark.parametrize("dataset", tuning.VALIDATION_DATASETS)
def test_each_validation_testbed_shares_no_secret_with_its_test_testbed(dataset):
    validation = tuning.validation_records(dataset)
    test = load_dataset(dataset)
    assert not {r.target for r in validation} & {r.target for r in test}
    assert not {r.prompt for r in validation} & {r.prompt for r in test}
    assert {r.rule for r in validation} == {r.rule for r in test}  # the same kind of secret
    with pytest.raises(ValueError, match="no validation testbed for 'natural'"):
        tuning.validation_records("natural")


@pytest.mark.integration
def test_the_passphrase_validation_testbed_shares_no_word_or_person_with_the_study():
    from revs.experiments import passphrase_pools
    from revs.model import load_tokenizer

    tokenizer = load_tokenizer()
    validation = tuning.validation_records("passphrases")
    assert len(validation) == 5 * tuning.PASSPHRASE_VALIDATION["n_subjects"]
    study = [r for size in passphrase_pools.POOL_SIZES
             for r in passphrase_pools.study_records(tokenizer, size)]
    words = {word for r in validation for word in r.target.split()}
    assert not words & {word for r in study for word in r.target.split()}
    assert not {r.prompt for r in validation} & {r.prompt for r in study}
    assert {r.rule for r in validation} == {r.rule for r in study} == {"secret"}
    assert len(set(passphrase_pools.token_pool(tokenizer, 1000, seed=1))
               & set(passphrase_pools.token_pool(tokenizer, 1000))) > 0  # exclusion is needed


def test_tuned_config_reads_what_a_sweep_stores_for_its_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    assert tuning.tuned_config("memit") is None
    chosen = dataclasses.replace(MEMITConfig(), v_lr=2.0, layers=(2, 3))
    (tmp_path / "memit-smollm2-135m-ssn.json").write_text(
        json.dumps({"config": dataclasses.asdict(chosen)}))
    assert tuning.tuned_config("memit") == chosen
    assert tuning.tuned_config("memit", dataset="emails") is None  # swept on SSNs only
    assert tuning.tuned_config("memit", dataset="emails-hard") == chosen  # no sweep of its own
    assert tuning.tuned_config("memit", "/models/other-model") is None
    revs = REVSConfig(n_neurons=10)
    (tmp_path / "revs-smollm2-135m-emails.json").write_text(
        json.dumps({"config": dataclasses.asdict(revs)}))
    assert tuning.tuned_config("revs", dataset="emails") == revs
    assert tuning.tuned_config("random-neurons", dataset="emails") == revs  # the placebo's too
    assert tuning.tuned_config("revs", dataset="passphrases-30") is None  # not SSN's: its own
    (tmp_path / "revs-smollm2-135m-passphrases.json").write_text(
        json.dumps({"config": dataclasses.asdict(revs)}))
    for pool in ("passphrases-10", "passphrases-1000"):  # every pool of the study, one sweep
        assert tuning.tuned_on(pool) == "passphrases"
        assert tuning.tuned_config("random-neurons", dataset=pool) == revs


def test_a_sweep_made_for_other_validation_settings_or_grid_is_reported_stale(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    current = {"dataset": "ssn", **tuning.VALIDATION}
    memit_trials = [{"overrides": overrides} for overrides in tuning.GRIDS["memit"]]
    stored = {"memit": (current, memit_trials),
              "ft-l": ({**current, "n_forget": 10},
                       [{"overrides": overrides} for overrides in tuning.GRIDS["ft-l"]]),
              "rmu": (current, [{"overrides": {}}])}  # another grid than today's
    for method, (validation, trials) in stored.items():
        config = get_method(method).default_config()
        (tmp_path / f"{method}-smollm2-135m-ssn.json").write_text(json.dumps(
            {"method": method, "config": dataclasses.asdict(config), "validation": validation,
             "trials": trials, "command": f"revs sweep --method {method} --dataset ssn"}))
    assert tuning.stale_sweeps() == [tmp_path / "ft-l-smollm2-135m-ssn.json",
                                     tmp_path / "rmu-smollm2-135m-ssn.json"]
    assert tuning.is_current("memit", "ssn") and not tuning.is_current("ft-l", "ssn")
    assert not tuning.is_current("memit", "emails")  # never swept there
    with caplog.at_level("WARNING", logger="revs.experiments.tuning"):
        assert tuning.tuned_config("memit") is not None
        assert not caplog.records
        assert tuning.tuned_config("ft-l") is not None
    assert "revs sweep --method ft-l --dataset ssn" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="revs.experiments.tuning"):
        tuning.tuned_config("ft-l")
    assert not caplog.records  # once per file


def test_sweep_skip_current_keeps_a_current_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    monkeypatch.setattr(tuning, "sweep", lambda *a, **k: pytest.fail("swept a current sweep"))
    (tmp_path / "memit-smollm2-135m-ssn.json").write_text(json.dumps(
        {"method": "memit", "validation": {"dataset": "ssn", **tuning.VALIDATION},
         "trials": [{"overrides": overrides} for overrides in tuning.GRIDS["memit"]]}))
    assert main(["sweep", "--method", "memit", "--dataset", "ssn", "--skip-current"]) == 0
    assert "memit on ssn: its stored sweep is current, kept" in capsys.readouterr().out


def _fake_sweep_parts(monkeypatch, scored: list):
    """Stand-ins for the testbed, the method and the scores: a sweep's bookkeeping alone."""
    def runner(model, tokenizer, forget, config):
        scored.append(config.v_lr)
        return SimpleNamespace(seconds=1.0)

    runner.default_config = MEMITConfig
    weight = SimpleNamespace(shape=(49_152, 8))
    model = SimpleNamespace(get_output_embeddings=lambda: SimpleNamespace(weight=weight))
    monkeypatch.setattr(tuning, "get_method", lambda name: runner)
    monkeypatch.setattr(tuning, "memorize", lambda *a, **k: SimpleNamespace(model=model,
                                                                           tokenizer=None))
    monkeypatch.setattr(tuning, "scorecard", lambda model, tokenizer, split, config, **k: {
        "unlearning_score": config.v_lr / 10, "perplexity": 28.0})


def test_a_sweep_keeps_the_trials_its_stored_sweep_scored_on_the_same_testbed(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    scored: list = []
    _fake_sweep_parts(monkeypatch, scored)
    first = tuning.sweep("memit", dataset="ssn", grid=[{}, {"v_lr": 2.0}])
    assert scored == [0.5, 2.0] and first["chosen"] == {"v_lr": 2.0}
    scored.clear()
    with caplog.at_level("INFO", logger="revs.experiments.tuning"):
        second = tuning.sweep("memit", dataset="ssn", grid=[{"v_lr": 2.0}, {"v_lr": 3.0}])
    assert scored == [3.0]  # only the new entry ran
    assert "scored before on this testbed, kept" in caplog.text
    assert second["trials"][0] == first["trials"][1] and second["chosen"] == {"v_lr": 3.0}
    scored.clear()
    tuning.sweep("memit", dataset="ssn", grid=[{"v_lr": 2.0}, {"v_lr": 3.0}], reuse=False)
    assert scored == [2.0, 3.0]
    scored.clear()
    path = tmp_path / "memit-smollm2-135m-ssn.json"
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "validation": {**stored["validation"], "k": 10}}))
    tuning.sweep("memit", dataset="ssn", grid=[{"v_lr": 2.0}])
    assert scored == [2.0]  # scored on another testbed: not reused
    assert tuning.reusable_trials("memit", "emails") == {}  # never swept there


def test_revs_sweep_redo_trials_scores_every_setting_anew(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    calls = []
    monkeypatch.setattr(tuning, "sweep", lambda name, **k: calls.append(k["reuse"]) or {
        "chosen": {}, "trials": []})
    assert main(["sweep", "--method", "memit", "--dataset", "ssn"]) == 0
    assert main(["sweep", "--method", "memit", "--dataset", "ssn", "--redo-trials"]) == 0
    assert calls == [True, False]


def test_a_run_reads_its_datasets_sweep_and_overrides_change_it(tmp_path, monkeypatch):
    from revs.experiments import runner

    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    swept = REVSConfig(n_neurons=10)
    (tmp_path / "revs-smollm2-135m-ssn.json").write_text(
        json.dumps({"config": dataclasses.asdict(swept)}))
    assert runner.run_config("revs", "ssn") == (swept, "swept on ssn")
    assert runner.run_config("random-neurons", "ssn", overrides={"act_filter": 300}) == (
        dataclasses.replace(swept, act_filter=300), "swept on ssn, changed: act_filter")
    assert runner.run_config("revs", "urls") == (REVSConfig(), "defaults")
    given = REVSConfig(n_neurons=20)
    assert runner.run_config("revs", "ssn", config=given) == (given, "given")
    with pytest.raises(ValueError, match="memit has no settings"):
        runner.run_config("memit", "ssn", overrides={"act_filter": 300})
    with pytest.raises(ValueError, match="initial_neurons"):  # valid on the defaults, not here
        runner.run_config("revs", "ssn", overrides={"initial_neurons": 20})
    assert runner.run_dataset_name("emails") == "emails"
    assert runner.run_dataset_name("some/where/secrets.csv") == "secrets.csv"


def test_revs_evaluate_set_changes_revs_and_the_placebo_and_is_checked_before_any_run(
        tmp_path, monkeypatch, capsys):
    from revs.experiments import runner
    from revs.experiments.results import Results

    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    (tmp_path / "revs-smollm2-135m-ssn.json").write_text(
        json.dumps({"config": dataclasses.asdict(REVSConfig(n_neurons=10))}))
    given = {}
    monkeypatch.setattr(runner, "evaluate", lambda name, dataset, seeds, overrides, **k: (
        given.__setitem__(name, overrides) or Results()))
    methods = ["--method", "revs", "random-neurons", "memit", "--dataset", "ssn", "--json"]
    assert main(["evaluate", *methods]) == 0
    assert given == {"revs": {}, "random-neurons": {}, "memit": {}}  # the runs read the sweep
    assert main(["evaluate", *methods, "--set", "act_filter=300"]) == 0
    changed = {"act_filter": 300}
    assert given == {"revs": changed, "random-neurons": changed, "memit": {}}
    given.clear()
    assert main(["evaluate", *methods, "--set", "initial_neurons=20"]) == 2
    assert given == {}
    assert "the settings revs runs with on ssn" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(tuning.HPARAMS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_stored_sweep_is_a_valid_config_with_its_trials(path):
    stored = json.loads(path.read_text())
    dataset = stored["validation"]["dataset"]
    assert path.name == f"{stored['method']}-{stored['model']}-{dataset}.json"
    config = tuning.tuned_config(stored["method"], dataset=dataset)
    assert type(config) is type(get_method(stored["method"]).default_config())
    today = {"dataset": dataset, **tuning.VALIDATION,
             **(tuning.PASSPHRASE_VALIDATION if dataset == "passphrases" else {})}
    assert stored["trials"] and set(stored["validation"]) == set(today)
    assert (stored["validation"] != today) == (path in tuning.stale_sweeps())
    best = max(t["scores"]["unlearning_score"] for t in stored["trials"])
    chosen = next(t for t in stored["trials"] if t["overrides"] == stored["chosen"])
    assert chosen["scores"]["unlearning_score"] == best


def test_sweep_table_says_what_each_stored_sweep_tried_and_chose(tmp_path, monkeypatch):
    assert set(tuning.sweep_table()[["method", "dataset"]].itertuples(index=False)) == {
        (m, d) for m in tuning.GRIDS for d in tuning.VALIDATION_DATASETS}  # the stored ones
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    trials = [{"overrides": {}, "scores": {"efficacy": 0.2, "specificity": 1.0,
                                           "unlearning_score": 0.3}},
              {"overrides": {"n_neurons": 10}, "scores": {"efficacy": 0.9, "specificity": 0.8,
                                                          "unlearning_score": 0.85}}]
    (tmp_path / "revs-smollm2-135m-emails.json").write_text(json.dumps(
        {"method": "revs", "chosen": {"n_neurons": 10}, "trials": trials}))
    table = tuning.sweep_table(["revs", "memit"])
    assert table.drop(columns="current").to_dict("records") == [
        {"method": "revs", "dataset": "emails", "settings_tried": 2, "chosen": "n_neurons=10",
         "efficacy": 0.9, "specificity": 0.8, "unlearning_score": 0.85}]
    assert not table.current[0]  # not today's grid nor validation settings


def test_tied_choice_says_when_the_perplexity_tie_break_chose_a_sweeps_setting(
        tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    assert tuning.tied_choice("revs") is None  # never swept

    def store(scores, chosen):
        trials = [{"overrides": overrides, "scores": {"efficacy": eff, "unlearning_score": unl}}
                  for overrides, (eff, unl) in zip([{}, {"n_neurons": 10}, {"act_filter": 300}],
                                                   scores, strict=True)]
        (tmp_path / "revs-smollm2-135m-ssn.json").write_text(json.dumps(
            {"method": "revs", "chosen": chosen, "trials": trials}))

    store([(1.0, 0.0), (0.4, 0.0), (0.9, 0.2)], {"act_filter": 300})
    assert tuning.tied_choice("revs") is None  # a clear winner
    store([(1.0, 0.0), (0.4, 0.0), (0.9, 0.0)], {"n_neurons": 10})
    assert tuning.tied_choice("revs") == tuning.tied_choice("random-neurons") == (
        "revs: 3 of 3 settings tie at unlearning score 0.00 on the ssn validation testbed and "
        "the lowest perplexity chose n_neurons=10, with validation efficacy 0.40 (the tied "
        "settings reach up to 1.00)")
    assert tuning.tied_choice("revs", dataset="emails-hard") is not None  # the SSN sweep's
    assert tuning.tied_choice("revs", dataset="passphrases-10") is None  # its own: none stored


def test_strongest_choice_says_when_a_sweep_chose_the_end_of_its_grid(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    assert tuning.strongest_choice("memit") is None  # never swept

    def store(efficacies, chosen):
        trials = [{"overrides": overrides, "scores": {"efficacy": eff}}
                  for overrides, eff in zip([{}, {"v_lr": 2.0}], efficacies, strict=True)]
        (tmp_path / "memit-smollm2-135m-passphrases.json").write_text(json.dumps(
            {"method": "memit", "chosen": chosen, "trials": trials}))

    store([0.3, 0.9], {"v_lr": 2.0})
    assert tuning.strongest_choice("memit", "passphrases-10") == (
        "memit chose v_lr=2.0, the setting of its 2 with the highest validation efficacy (0.90) "
        "on the passphrases validation testbed")
    store([0.3, 0.9], {})
    assert tuning.strongest_choice("memit", "passphrases") is None  # a stronger one was tried
    store([0.3, 1.0], {"v_lr": 2.0})
    assert tuning.strongest_choice("memit", "passphrases") is None  # it forgets everything


def test_every_method_has_a_sweep_grid_of_real_settings_of_the_same_size():
    for method, grid in tuning.GRIDS.items():
        for overrides in grid:
            tuning.resolve(method, overrides, 49_152)  # unknown names would raise
    assert set(tuning.GRIDS) == {"revs", "ft-l", "memit", "npo-kl", "rmu", "max-entropy",
                                 "head-projection"}
    sizes = [len(grid) for grid in tuning.GRIDS.values()]
    assert min(sizes) == 4 and max(sizes) - min(sizes) <= 1  # about the same tuning budget


def test_the_llama3_entry_scales_the_papers_bands_to_the_vocabulary():
    config = tuning.resolve("revs", tuning.LLAMA3, 49_152)
    assert config == REVSConfig().with_relative_bands(49_152)
    assert config.neuron_band == (34_491, 38_323)
    with pytest.raises(ValueError, match="no rank bands"):
        tuning.resolve("memit", tuning.LLAMA3, 49_152)


def test_revs_sweep_offers_every_validation_testbed():
    from revs.cli import build_parser

    sweep = next(action for action in build_parser()._subparsers._group_actions[0].choices[
        "sweep"]._actions if action.dest == "dataset")
    assert tuple(sweep.choices) == tuning.SWEPT_DATASETS
    assert sweep.default == list(tuning.VALIDATION_DATASETS)  # the comparison's, by default
