"""Hyperparameters of every method, REVS included, chosen by a small sweep per dataset.

Each dataset of the comparison has its own validation testbed (:data:`VALIDATION_DATASETS`):
its generator's seed 1, other people and other secrets than the test testbeds (seed 0),
memorized by their own fine-tuned model, so no secret the reported tables score was seen while
tuning, and no method is tuned on SSNs and scored on addresses while another is tuned on them.
Each method's grid (:data:`GRIDS`, a handful of settings around the official values, spec §6;
for REVS its demo bands, the paper's Llama-3 bands scaled to the model's vocabulary, fewer
neurons per layer and a wider activation filter) is scored on split seed 0 by the unlearning
score at k = 100 (harmonic mean of efficacy, generality and specificity: what the official
sweeps maximize), ties broken by lower perplexity. The winner and every tried setting are stored
in ``data/hparams/<method>-<model>-<dataset>.json``; :func:`tuned_config` reads it back and
:func:`revs.evaluate` (and ``revs unlearn --dataset``) use it whenever no config is given.
``revs sweep --method NAME [--dataset ...]`` redoes it. The token-sharing study has a validation
testbed of its own too (``passphrases``, :data:`PASSPHRASE_VALIDATION`), so its methods are
tuned on passphrases rather than carried over from SSNs, where every setting may tie.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from ..config import REVSConfig
from ..data import COMPARED, load_dataset, split_records
from ..evaluation.scoring import EvalSettings, scorecard
from ..methods import get_method
from ..model import EMBEDDED_MODEL, load_tokenizer
from ..resources import data_path
from . import passphrase_pools
from .testbed import memorize

__all__ = ["GRIDS", "HPARAMS_DIR", "PASSPHRASE_VALIDATION", "SETTINGS_OF", "SWEPT_DATASETS",
           "VALIDATION", "VALIDATION_DATASETS", "is_current", "model_tag", "resolve",
           "reusable_trials", "stale_sweeps", "strongest_choice", "sweep", "sweep_table",
           "tied_choice", "tuned_config", "tuned_on", "validation_records"]

logger = logging.getLogger(__name__)

HPARAMS_DIR = data_path("hparams")
VALIDATION = {"generator_seed": 1, "split_seed": 0, "n_forget": EvalSettings().n_forget,
              "k": 100, "max_new_tokens": 24, "corpus_documents": 20}
"""How a dataset's validation testbed is made and how a setting is scored on it.

It forgets as many subjects as a scored run (``n_forget``, None: half): the token sharing of a
split (:func:`revs.sharing.token_sharing`) grows with the number of secrets forgotten at once,
so a sweep that forgets fewer than the test chooses for a regime the test never sees."""
VALIDATION_DATASETS = COMPARED
"""The comparison's datasets, each with a validation testbed of its own (one sweep each)."""
PASSPHRASE_VALIDATION = {"pool_size": 100, "n_subjects": 20}
"""The token-sharing study's validation testbed: passphrases from a pool of this many words
(the middle of :data:`~.passphrase_pools.POOL_SIZES`), for as many subjects as the study's, with
:data:`VALIDATION`'s generator seed, words no pool of the study holds and other people
(:func:`.passphrase_pools.validation_records`). One setting per method serves every pool size,
so pool size is all that changes between them."""
SWEPT_DATASETS = (*VALIDATION_DATASETS, "passphrases")
"""Every validation testbed ``revs sweep --dataset`` knows."""
LLAMA3 = {"bands": "llama3"}
"""A grid entry: the paper's Llama-3-8B bands as fractions of the model's vocabulary
(:meth:`revs.config.REVSConfig.with_relative_bands`), resolved when the model is known."""

_MEMIT_GRID = [{}, {"v_lr": 2.0, "clamp_norm_factor": 4.0},
               {"v_lr": 2.0, "clamp_norm_factor": 4.0, "mom2_weight": 1500.0},
               {"v_lr": 2.0, "clamp_norm_factor": 4.0, "mom2_weight": 1500.0, "loss_break": 0.01}]
GRIDS: dict[str, list[dict[str, Any]]] = {
    "ft-l": [{}, {"lr": 1e-3, "norm_constraint": 2e-3}, {"norm_constraint": 1e-2},
             {"lr": 1e-3, "norm_constraint": 1e-2, "epochs": 10}],
    "memit": [*_MEMIT_GRID, {"v_lr": 2.0, "clamp_norm_factor": 4.0, "mom2_weight": 150.0,
                             "loss_break": 0.01}],
    "head-projection": _MEMIT_GRID,
    "max-entropy": [{}, {"v_lr": 1.0, "clamp_norm_factor": 2.0},
                    {"v_lr": 2.0, "clamp_norm_factor": 4.0},
                    {"v_lr": 2.0, "clamp_norm_factor": 4.0, "mom2_weight": 1500.0}],
    "npo-kl": [{}, {"lr": 2e-5}, {"lr": 2e-4}, {"lr": 1e-3}],
    "rmu": [{}, {"lr": 1e-3, "epochs": 2}, {"lr": 5e-3}, {"lr": 5e-3, "steering": 100.0}],
    "revs": [{}, LLAMA3, {"n_neurons": 10}, {"act_filter": 300},
             {"neuron_band": (10_000, 30_000)}],
}
"""Settings tried per method: overrides of the method's default config (four; MEMIT, REVS five).

Each grid is meant to span from settings that barely move the secrets to ones that forget them
all and damage the rest; where a sweep still chose its grid's strongest setting, a stronger one
might have scored higher, and :func:`strongest_choice` says so (chapters 8 and 9 print it). Every
entry has to change something: Max-Entropy never stops early, so MEMIT's ``loss_break`` entry would
repeat the one before it and it gets a milder step instead; NPO-KL's milder learning rate
replaces a longer run at ``lr=1e-3`` (no specificity left, perplexity three times the base);
RMU's ``lr=5e-3`` at the default steering replaces ``lr=1e-3``, which changed nothing.
MEMIT's fifth lowers the second moments' weight another tenfold, because its four-setting sweeps
chose their strongest setting on every testbed (Head-Projection, whose sweeps did not, keeps four).
REVS's fifth is a milder neuron band: each edited neuron is left ranking the token in the middle
of the vocabulary (it stops promoting it) rather than near the bottom (it suppresses it wherever
it fires, in other secrets' contexts too); more neurons then carry the demotion."""


def resolve(method: str, overrides: dict[str, Any], d_vocab: int) -> Any:
    """The config a grid entry means for a model with ``d_vocab`` tokens.

    An entry holds overrides of the method's default config; ``{"bands": "llama3"}`` stands for
    the paper's Llama-3 bands scaled to ``d_vocab`` (REVS only).
    """
    default = get_method(method).default_config()
    overrides = dict(overrides)
    if overrides.pop("bands", None) == "llama3":
        if not isinstance(default, REVSConfig):
            raise ValueError(f"{method} has no rank bands to scale")
        default = default.with_relative_bands(d_vocab)
    return dataclasses.replace(default, **overrides)


def model_tag(model: str | None) -> str:
    """The short name hyperparameter files use for a base model."""
    return "smollm2-135m" if model is None or str(model) == EMBEDDED_MODEL else Path(model).name


def _path(method: str, model: str | None, dataset: str) -> Path:
    return HPARAMS_DIR / f"{method}-{model_tag(model)}-{dataset}.json"


def tuned_on(dataset: str) -> str:
    """Whose sweep a dataset's runs use.

    Its own; ``passphrases`` for a pool of the token-sharing study (``passphrases-<P>``); the
    SSN one for a dataset without one (the hard variants, the natural secrets, a user's file).
    """
    if dataset in SWEPT_DATASETS:
        return dataset
    return "passphrases" if dataset.startswith("passphrases-") else "ssn"


def _validation(dataset: str) -> dict[str, Any]:
    """What a sweep on ``dataset`` records of its validation testbed and scoring."""
    extra = PASSPHRASE_VALIDATION if dataset == "passphrases" else {}
    return {"dataset": dataset, **VALIDATION, **extra}


SETTINGS_OF = {"random-neurons": "revs"}
"""Methods that run with another method's swept settings: the placebo makes REVS's edits."""


def tuned_config(method: str, model: str | None = None, dataset: str = "ssn") -> Any:
    """The config ``method``'s sweep chose for ``model`` on ``dataset`` (:func:`tuned_on`).

    None when it was never swept there.
    """
    path = _path(SETTINGS_OF.get(method, method), model, tuned_on(dataset))
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    if _is_stale(stored) and path not in _WARNED:
        _WARNED.add(path)
        logger.warning("%s was swept with other validation settings (today's: %s) or another "
                       "grid: redo it with `%s`", path.name, VALIDATION,
                       stored.get("command", "revs sweep"))
    default = get_method(method).default_config()
    fields = {f.name: f.type for f in dataclasses.fields(default)}
    values = {key: tuple(value) if isinstance(value, list) else value
              for key, value in stored["config"].items() if key in fields}
    return dataclasses.replace(default, **values)


_WARNED: set[Path] = set()  # once per file and process: a comparison reads one per run


def _is_stale(stored: dict) -> bool:
    """Whether a stored sweep was made with other validation settings or another grid."""
    validation = stored.get("validation", {})
    tried = [trial["overrides"] for trial in stored.get("trials", [])]
    grid = json.loads(json.dumps(GRIDS.get(stored.get("method"), [])))  # tuples as JSON lists
    return validation != _validation(validation.get("dataset", "")) or tried != grid


def stale_sweeps() -> list[Path]:
    """The stored sweeps made with other validation settings or another grid than today's.

    Today's: :data:`VALIDATION` (with :data:`PASSPHRASE_VALIDATION`) and :data:`GRIDS`. Their
    settings still run (and :func:`tuned_config` warns), but they were chosen for another regime
    or among other settings: ``revs sweep`` redoes them.
    """
    return [path for path in sorted(HPARAMS_DIR.glob("*.json"))
            if _is_stale(json.loads(path.read_text()))]


def _chosen(stored: dict) -> tuple[dict, str]:
    """A stored sweep's chosen trial, and its overrides in words (``defaults`` for none)."""
    chosen = next(t for t in stored["trials"] if t["overrides"] == stored["chosen"])
    words = ", ".join(f"{key}={value}" for key, value in stored["chosen"].items())
    return chosen, words or "defaults"


def sweep_table(methods: list[str] | None = None, datasets=VALIDATION_DATASETS,
                model: str | None = None):
    """What every stored sweep tried and chose: one row per method and dataset.

    Columns: ``method, dataset, settings_tried, chosen`` (the chosen overrides in words,
    ``defaults`` for none), the chosen setting's validation ``efficacy``, ``specificity`` and
    ``unlearning_score``, and ``current`` (made with today's grid and validation settings).
    ``methods`` default to every method with a grid; pairs never swept are left out.
    """
    import pandas as pd

    rows = []
    for method in methods or list(GRIDS):
        for dataset in datasets:
            path = _path(method, model, dataset)
            if not path.is_file():
                continue
            stored = json.loads(path.read_text())
            chosen, words = _chosen(stored)
            rows.append((method, dataset, len(stored["trials"]), words,
                         *(chosen["scores"][m] for m in ("efficacy", "specificity",
                                                         "unlearning_score")),
                         not _is_stale(stored)))
    return pd.DataFrame(rows, columns=["method", "dataset", "settings_tried", "chosen", "efficacy",
                                       "specificity", "unlearning_score", "current"])


def _sweep_of(method: str, dataset: str, model: str | None):
    """The sweep a run of ``method`` on ``dataset`` reads, or None when never swept.

    (swept method, the stored sweep, its chosen trial, the chosen overrides in words); the
    placebo's is REVS's sweep.
    """
    swept = SETTINGS_OF.get(method, method)
    path = _path(swept, model, tuned_on(dataset))
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    return swept, stored, *_chosen(stored)


def tied_choice(method: str, dataset: str = "ssn", model: str | None = None) -> str | None:
    """When ``method``'s sweep on ``dataset`` was decided by the tie-break, that in words.

    The selection is the highest unlearning score, then the lowest perplexity. Where every
    setting that unlearns also loses specificity (SSNs), several settings tie, often at 0, and
    the tie-break picks the one that changes the model least, so a study run with it shows a
    method that barely acts. None when the best score is one setting's alone or never swept.
    """
    found = _sweep_of(method, dataset, model)
    if found is None:
        return None
    swept, stored, chosen, words = found
    best = chosen["scores"]["unlearning_score"]
    tied = [t for t in stored["trials"] if t["scores"]["unlearning_score"] == best]
    if len(tied) < 2:
        return None
    top = max(t["scores"]["efficacy"] for t in tied)
    return (f"{swept}: {len(tied)} of {len(stored['trials'])} settings tie at unlearning score "
            f"{best:.2f} on the {tuned_on(dataset)} validation testbed and the lowest perplexity "
            f"chose {words}, with validation efficacy {chosen['scores']['efficacy']:.2f} "
            f"(the tied settings reach up to {top:.2f})")


def strongest_choice(method: str, dataset: str = "ssn", model: str | None = None) -> str | None:
    """When ``method``'s sweep on ``dataset`` chose the setting of its grid that forgets most.

    That is: the chosen setting has the highest validation efficacy of all those tried (and it
    is below 1), so the grid ends where the best score is, and a stronger setting than any it
    holds might score higher. In words, or None (never swept, or a stronger setting was tried).
    """
    found = _sweep_of(method, dataset, model)
    if found is None:
        return None
    swept, stored, chosen, words = found
    efficacy = chosen["scores"]["efficacy"]
    if efficacy >= 1 or any(t["scores"]["efficacy"] > efficacy for t in stored["trials"]):
        return None
    return (f"{swept} chose {words}, the setting of its {len(stored['trials'])} with the highest "
            f"validation efficacy ({efficacy:.2f}) on the {tuned_on(dataset)} validation testbed")


def is_current(method: str, dataset: str, model: str | None = None) -> bool:
    """Whether ``method`` has a stored sweep on ``dataset`` made with today's settings and grid."""
    path = _path(method, model, dataset)
    return path.is_file() and not _is_stale(json.loads(path.read_text()))


def validation_records(dataset: str = "ssn", model: str | None = None) -> list:
    """A dataset's validation testbed's records.

    Checked to share no secret or prompt with the test testbed's (for ``passphrases``, with
    those of every pool size of the study; their words are tokens of ``model``'s tokenizer).
    """
    if dataset not in SWEPT_DATASETS:
        raise ValueError(f"no validation testbed for {dataset!r}: choose from "
                         f"{', '.join(SWEPT_DATASETS)}")
    if dataset == "passphrases":
        tokenizer = load_tokenizer(model)
        n_subjects = PASSPHRASE_VALIDATION["n_subjects"]
        records = passphrase_pools.validation_records(
            tokenizer, PASSPHRASE_VALIDATION["pool_size"], n_subjects=n_subjects,
            seed=VALIDATION["generator_seed"])
        test = [r for size in passphrase_pools.POOL_SIZES
                for r in passphrase_pools.study_records(tokenizer, size, n_subjects=n_subjects)]
    else:
        records = load_dataset(dataset, seed=VALIDATION["generator_seed"])
        test = load_dataset(dataset)
    shared = {(r.prompt, r.target) for r in records} & {(r.prompt, r.target) for r in test}
    shared |= {r.target for r in records} & {r.target for r in test}
    if shared:
        raise RuntimeError(f"the validation testbed shares {len(shared)} items with the test one")
    return records


def _key(overrides: dict[str, Any]) -> str:
    """A grid entry as stored JSON spells it (tuples are lists), for matching stored trials."""
    return json.dumps(json.loads(json.dumps(overrides)), sort_keys=True)


def reusable_trials(method: str, dataset: str, model: str | None = None) -> dict[str, dict]:
    """The stored trials of ``method`` on ``dataset`` a new sweep may keep, by :func:`_key`.

    Only those scored on today's validation testbed (:data:`VALIDATION`): a trial depends on its
    overrides, the testbed and the method's code, and only the code is not recorded (after a
    change to a method, sweep with ``reuse=False``, ``revs sweep --redo-trials``).
    """
    path = _path(method, model, dataset)
    if not path.is_file():
        return {}
    stored = json.loads(path.read_text())
    if stored.get("validation") != _validation(dataset):
        return {}
    return {_key(trial["overrides"]): trial for trial in stored.get("trials", [])}


def sweep(method: str, *, dataset: str = "ssn", model: str | None = None,
          grid: list[dict] | None = None, save: bool = True, reuse: bool = True) -> dict:
    """Score every setting of ``method``'s grid on ``dataset``'s validation testbed.

    The best is stored (``save``). With ``reuse``, a setting the stored sweep already scored on
    today's validation testbed keeps its trial (:func:`reusable_trials`), so a changed grid
    costs only its new entries. Returns what is stored: the chosen ``config``, every ``trial``
    (overrides, scores, seconds) and the validation settings.
    """
    runner = get_method(method)
    grid = GRIDS.get(method) if grid is None else grid
    if not grid:
        raise ValueError(f"no sweep grid for {method!r}; methods with one: {', '.join(GRIDS)}")
    stored = reusable_trials(method, dataset, model) if reuse else {}
    records = validation_records(dataset, model)
    split = split_records(records, VALIDATION["split_seed"], n_forget=VALIDATION["n_forget"])
    memorized = memorize(records, base_model=model)  # build the testbed once, outside the timings
    d_vocab = memorized.model.get_output_embeddings().weight.shape[0]
    trials = []
    for overrides in grid:
        if _key(overrides) in stored:
            logger.info("%s %s on %s: scored before on this testbed, kept", method, overrides,
                        dataset)
            trials.append(stored[_key(overrides)])
            continue
        config = resolve(method, overrides, d_vocab)
        memorized = memorize(records, base_model=model)
        start = time.perf_counter()
        run = runner(memorized.model, memorized.tokenizer, split.forget, config=config)
        scores = scorecard(memorized.model, memorized.tokenizer, split, config,
                           k=VALIDATION["k"], corpus_documents=VALIDATION["corpus_documents"],
                           max_new_tokens=VALIDATION["max_new_tokens"])
        trials.append({"overrides": overrides, "scores": scores,
                       "seconds_method": run.seconds,
                       "seconds_total": time.perf_counter() - start})
        logger.info("%s %s: %s", method, overrides, scores)
    best = max(trials, key=lambda t: (t["scores"]["unlearning_score"],
                                      -t["scores"]["perplexity"]))
    chosen = resolve(method, best["overrides"], d_vocab)
    result = {
        "method": method, "model": model_tag(model), "config": dataclasses.asdict(chosen),
        "chosen": best["overrides"], "selection": "max unlearning_score, then min perplexity",
        "validation": _validation(dataset), "trials": trials,
        "command": f"revs sweep --method {method} --dataset {dataset}",
    }
    if save:
        HPARAMS_DIR.mkdir(parents=True, exist_ok=True)
        _path(method, model, dataset).write_text(json.dumps(result, indent=1) + "\n")
    return result
