"""Runs of a method on a dataset: split, unlearn, measure (spec §4.6).

One run = (method, settings, dataset, seed): load the model afresh (for the testbeds, the model
fine-tuned to memorize them), split the dataset with the seed, unlearn the forget split and score
every metric at every threshold ``k`` (:func:`evaluate_run`); :func:`evaluate` runs seeds, caches
each run's result by its inputs and returns a tidy :class:`~revs.experiments.results.Results`
table.
:func:`unlearn_testbed` is the short REVS-only run behind ``revs unlearn --dataset``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import REVSConfig
from ..data import SYNTHETIC, load_dataset
from ..data.records import Record, records_digest, split_records
from ..evaluation.metrics import emitted, generality
from ..evaluation.scoring import PARTS, EvalSettings, score_model, scored_config, scores_at
from ..methods import MethodRun, get_method
from ..model import EMBEDDED_MODEL, cache_dir, load_model, weights_digest
from ..patch import Patch, load_patch
from ..sharing import crowded_tokens, damage_by_sharing
from ..unlearn import unlearn
from ..vocab import vocab_projection
from .results import Results, cache_key, check_thresholds, package_versions, rows_for
from .testbed import memorize
from .tuning import tuned_config, tuned_on

__all__ = ["TESTBEDS", "evaluate", "evaluate_run", "run_config", "run_dataset_name", "store_key",
           "unlearn_testbed"]

logger = logging.getLogger(__name__)


def unlearn_testbed(
    dataset: str = "ssn",
    *,
    seed: int = 0,
    config: REVSConfig | None = None,
    model: str | None = None,
    settings: EvalSettings | None = None,
    k: int = 100,
    progress: bool = False,
    patch_path: str | None = None,
) -> dict:
    """Unlearn the forget split of ``dataset``'s testbed with REVS and score the result.

    The scores are those of :func:`evaluate` (:func:`revs.evaluation.scoring.score_model`: the
    same tokens, the same definitions), without the attacks, perplexity and extraction.

    Args:
        dataset: ``ssn``, ``emails`` or ``urls`` (see :func:`revs.data.load_dataset`).
        seed: seed of the forget / generality / retain split (spec §5.1).
        config: REVS settings (default: those ``revs sweep --method revs`` chose for this
            dataset, :func:`revs.experiments.tuning.tuned_config`, else :class:`REVSConfig`).
        model: the base model the testbed fine-tunes (default: the embedded one).
        settings: subjects, forget count and greedy tokens (default :class:`EvalSettings`; its
            ``ks`` are replaced by ``k``).
        k: rank threshold of the scores.
        progress: show the unlearning progress bar.
        patch_path: also save the edits as a patch there.

    Returns:
        A flat dict: ``efficacy``, ``generality`` (worst layer, as the official code),
        ``generality_output`` (model output only), ``specificity``, ``unlearning_score``,
        ``leaked_forget`` / ``leaked_generality`` (records whose secret greedy decoding still
        emits), the records' token ``rule``, ``token_sharing``
        (:func:`revs.sharing.token_sharing`), the retained subjects the edit lost and the picked
        tokens they hold (``retain_lost``, ``retain_lost_records``, ``retain_lost_sharing``,
        ``retain_sharing``, in words ``damage``: :func:`revs.sharing.damage_by_sharing`),
        ``warnings`` (tokens picked for more than half of the secrets), ``seconds_per_target``,
        edit counts, forward passes and the settings.
    """
    settings = dataclasses.replace(settings or EvalSettings(), ks=(k,))
    records = load_dataset(dataset, n_subjects=settings.n_subjects)
    memorized = memorize(records, base_model=model)
    model_, tokenizer = memorized.model, memorized.tokenizer
    config = config or tuned_config("revs", model, dataset) or REVSConfig()
    split = split_records(records, seed, n_forget=settings.n_forget)
    before_retain = emitted(model_, tokenizer, split.retain, max_new_tokens=settings.max_new_tokens)
    crowded = crowded_tokens(tokenizer, split.forget, config)
    for message in crowded:
        logger.warning(message)
    result = unlearn(model_, tokenizer, split.forget, config, progress=progress)
    if patch_path:
        result.patch.save(patch_path)
    start = time.perf_counter()
    scores = scores_at(score_model(model_, tokenizer, split, settings, config=config, seed=seed,
                                   parts=("effectiveness",)), k)
    scores["generality_output"] = (  # a diagnostic beside the official all-layer generality
        generality(model_, tokenizer, split.generality, scored_config(config), k=k,
                   all_layers=False) if split.generality else None)
    leaked_forget = emitted(model_, tokenizer, split.forget, max_new_tokens=settings.max_new_tokens)
    after_retain = emitted(model_, tokenizer, split.retain, max_new_tokens=settings.max_new_tokens)
    damage = damage_by_sharing(tokenizer, split, config, before_retain, after_retain)
    leaked_generality = (emitted(model_, tokenizer, split.generality,
                                 max_new_tokens=settings.max_new_tokens)
                         if split.generality else torch.zeros(0, dtype=torch.bool))
    logger.info("scored in %.1f s", time.perf_counter() - start)
    return {
        "dataset": dataset,
        "seed": seed,
        "k": k,
        **{name: scores.get(name) for name in ("efficacy", "generality", "generality_output",
                                               "specificity", "unlearning_score")},
        "leaked_forget": int(leaked_forget.sum()),
        "leaked_generality": int(leaked_generality.sum()),
        "n_forget": len(split.forget),
        "n_generality": len(split.generality),
        "n_retain": len(split.retain),
        "retain_emitted_before": int(before_retain.sum()),
        "rule": sorted({r.rule for r in records}),
        "token_sharing": damage.sharing / damage.subjects,  # token_sharing(), rows read once
        "retain_lost": [dataclasses.asdict(row) for row in damage.lost],
        "retain_lost_records": damage.records_lost,
        "retain_lost_sharing": damage.lost_sharing,
        "retain_sharing": damage.sharing,
        "damage": damage.reading(),
        "warnings": crowded,
        "seconds": result.seconds,
        "seconds_per_target": result.seconds / len(split.forget),
        "forward_passes": result.forward_passes,
        "layer_edits": len(result.edits),
        "neurons_edited": result.n_neurons,
        "neurons_per_layer": result.neurons_per_layer(),
        "skipped_targets": result.skipped,
        "config": dataclasses.asdict(config),
        "settings": dataclasses.asdict(settings),
    }


# ---- evaluation of any method over seeds (spec §4) ----------------------------------------------

TESTBEDS = SYNTHETIC
"""Datasets scored on a model fine-tuned to memorize them (:func:`.testbed.memorize`); any other
dataset (``natural``, a file) is scored on the model as loaded."""


def evaluate_run(
    method: str,
    records: Sequence[Record],
    seed: int,
    load: Callable[[], tuple[nn.Module, object]],
    *,
    dataset: str,
    config: Any = None,
    patch: Patch | None = None,
    settings: EvalSettings | None = None,
    parts: Sequence[str] = PARTS,
) -> Results:
    """One run: load the model, split with ``seed``, unlearn the forget split, score it.

    Args:
        method: a name in :data:`revs.methods.METHODS`.
        records: the dataset's records.
        seed: the split's seed (spec §5.1), also the seed of sampling and perturbations.
        load: returns a fresh ``(model, tokenizer)`` (the run edits the model).
        dataset: the dataset's name in the table.
        config: the method's settings (default: ``method.default_config()``).
        patch: instead of running the method, apply this patch (refused unless it was made on
            this model for this seed's forget split).
        settings: how to score (default :class:`EvalSettings`).
        parts: which scores to compute (:data:`revs.evaluation.scoring.PARTS`; default all).
    """
    settings = settings or EvalSettings()
    runner = get_method(method)
    config = runner.default_config() if config is None else config
    split = split_records(records, seed, n_forget=settings.n_forget)
    model, tokenizer = load()
    check_thresholds(settings.ks, vocab_projection(model).d_vocab, settings.delta_candidates)
    if patch is not None:
        patch.check_model(model)
        missing = sum(not patch.covers(record) for record in split.forget)
        if missing:
            raise ValueError(
                f"this patch did not unlearn {missing} of the {len(split.forget)} forget records "
                f"of seed {seed}: evaluate it with the seed (and dataset) it was made for"
            )
        patch.apply_(model)
        run = MethodRun(seconds=0.0, patch=patch, details={"from_patch": True})
        config = patch.config
    else:
        run = runner(model, tokenizer, split.forget, config=config, seed=seed)
    start, timings = time.perf_counter(), {}
    values = score_model(model, tokenizer, split, settings, config=config, seed=seed,
                         parts=parts, timings=timings)
    meta = {
        "method": method, "dataset": dataset, "seed": seed,
        "config": _as_dict(config), "settings": dataclasses.asdict(settings),
        "versions": package_versions(),
        "n_forget": len(split.forget), "n_generality": len(split.generality),
        "n_retain": len(split.retain),
        "seconds_method": run.seconds, "seconds_per_target": run.seconds / len(split.forget),
        "seconds_scoring": time.perf_counter() - start, "seconds_by_phase": timings,
        "details": run.details,
    }
    # As JSON would give it back (tuples as lists), so a cached run reads the same as a fresh one.
    meta = json.loads(json.dumps(meta, default=str))
    return Results(rows_for(method, dataset, seed, values), [meta])


def evaluate(
    method: str,
    dataset: str,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    model: str | None = None,
    config: Any = None,
    overrides: Mapping[str, Any] | None = None,
    patch: str | Path | None = None,
    settings: EvalSettings | None = None,
    parts: Sequence[str] = PARTS,
    records: Sequence[Record] | None = None,
    use_cache: bool = True,
    store: str | Path | None = None,
    compute_missing: bool = True,
) -> Results:
    """Evaluate ``method`` on ``dataset`` for each seed; a tidy :class:`~.results.Results`.

    Args:
        method: a name in :data:`revs.methods.METHODS` (``unedited`` scores the model as is).
        dataset: ``ssn``, ``emails``, ``urls`` (generated and memorized by fine-tuning),
            ``natural`` (secrets the embedded model memorized in pre-training) or a ``.csv`` /
            ``.jsonl`` file of records the model already reproduces.
        seeds: split seeds; one run each.
        model: base model to load (default: the embedded one).
        config: the method's settings (default: those its sweep chose for this model on this
            dataset, :func:`revs.experiments.tuning.tuned_config`, else its defaults; the run
            records which as ``config_source``).
        overrides: settings changed on that config, by field name (``revs evaluate --set``):
            e.g. ``{"n_neurons": 10}`` runs the swept REVS with 10 neurons per layer.
        patch: a saved patch to apply instead of running the method.
        settings: how to score (default :class:`EvalSettings`).
        parts: which scores to compute (:data:`revs.evaluation.scoring.PARTS`; default all).
        records: the records of a generated testbed that :func:`revs.data.load_dataset` does not
            know (the token-sharing study's passphrases), called ``dataset`` in the table and
            memorized like the others; its settings are those swept on SSNs (:func:`tuned_on`).
        use_cache: reuse a run's result from ``<cache>/results`` when every input is the same.
        store: a folder of finished runs kept with the repository (e.g.
            ``data/results/runs/sharing-study``), so a job longer than one session resumes on
            a machine whose cache is gone. Its runs are keyed by every input except the
            ``revs`` source digest (:func:`store_key`; each run records its own digest, commit
            and whether bfloat16 units computed it); runs found there are reused, new ones
            are added to it. Whoever commits a store says in its datasheet what the code
            changed since.
        compute_missing: when False, seeds with no cached or stored run are left out of the
            result (logged) instead of computed: what a long job has finished so far.
    """
    settings = settings or EvalSettings()
    get_method(method)  # bad input fails before anything loads
    check_thresholds(settings.ks, None, settings.delta_candidates)
    if not seeds:
        raise ValueError("give at least one seed")
    if not parts or set(parts) - set(PARTS):
        raise ValueError(f"parts must be some of {', '.join(PARTS)}, got {list(parts)}")
    if store is not None and Path(store).exists() and not Path(store).is_dir():
        raise NotADirectoryError(f"the store {str(store)!r} is a file: give a folder for the "
                                 "finished runs (it is made if missing)")
    testbed = records is not None or dataset in TESTBEDS
    if records is None:
        records = load_dataset(dataset, n_subjects=settings.n_subjects)
        name = run_dataset_name(dataset)
    else:
        records, name = list(records), dataset
    loaded = load_patch(patch) if patch is not None else None
    config, source = run_config(method, name, model=model, config=config, overrides=overrides)
    results = Results()
    for seed in seeds:
        inputs = {
            "method": method, "config": _as_dict(config), "dataset": name,
            "records": records_digest(records), "seed": seed,
            "rules": hashlib.sha256("\x00".join(r.rule for r in records).encode()).hexdigest(),
            "settings": dataclasses.asdict(settings), "model": _model_identity(model),
            "testbed": testbed,
            "patch": None if patch is None else _file_digest(patch),
            "versions": package_versions(),
        }
        if tuple(parts) != PARTS:  # only then, so full runs keep their keys
            inputs["parts"] = list(parts)
        key = cache_key(inputs)
        stem = f"{method}-{name}-seed{seed}"
        path = cache_dir() / "results" / f"{stem}-{key}.json"
        stored = None if store is None else Path(store) / f"{stem}-{store_key(inputs)}.json"
        if use_cache and path.is_file():
            logger.info("%s on %s, seed %d: cached result %s", method, name, seed, path)
            results.extend(Results.load(path))
            continue
        if stored is not None and stored.is_file():
            logger.info("%s on %s, seed %d: stored run %s", method, name, seed, stored)
            results.extend(Results.load(stored))
            continue
        if not compute_missing:
            logger.info("%s on %s, seed %d: not computed yet, left out", method, name, seed)
            continue

        loaded_weights: dict[str, str] = {}

        def load(records=records, loaded_weights=loaded_weights):
            if testbed:
                memorized = memorize(records, base_model=model)
                pair = memorized.model, memorized.tokenizer
            else:
                pair = load_model(model)
            # A memorized testbed is rebuilt on each machine and its weights can differ between
            # CPUs: recording them shows which runs of a table edited the same model.
            loaded_weights["weights"] = weights_digest(pair[0])[:16]
            return pair

        run = evaluate_run(method, records, seed, load, dataset=name, config=config,
                           patch=loaded, settings=settings, parts=parts)
        run.runs[0]["cache_key"] = key
        run.runs[0]["config_source"] = source
        run.runs[0]["machine"] = {**_machine(), **loaded_weights}
        if use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            run.save(path)
        if stored is not None:
            stored.parent.mkdir(parents=True, exist_ok=True)
            run.save(stored)
        results.extend(run)
    return results


def run_dataset_name(dataset: str) -> str:
    """The name a run of :func:`evaluate` on ``dataset`` has in its table and its sweep.

    A testbed or ``natural`` by its own name, a records file by its file name.
    """
    return dataset if dataset in (*TESTBEDS, "natural") else Path(dataset).name


def run_config(method: str, dataset: str, *, model: str | None = None, config: Any = None,
               overrides: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The settings a run of ``method`` on ``dataset`` (:func:`run_dataset_name`) uses, and whence.

    ``config`` if given, else the one the method's sweep chose for ``model`` on this dataset
    (:func:`revs.experiments.tuning.tuned_config`), else the method's defaults; then
    ``overrides`` changed on it. The second value is the run's ``config_source``: ``"given"``,
    ``"swept on <dataset>"`` or ``"defaults"``, with ``", changed: <fields>"`` after overrides.

    Raises:
        ValueError: an override that is not a setting of the method, or a value it rejects.
    """
    source = "given"
    if config is None:
        # Swept settings (data/hparams) when the method was tuned for this model and dataset.
        config = tuned_config(method, model, dataset)
        source = f"swept on {tuned_on(dataset)}" if config is not None else "defaults"
        config = config or get_method(method).default_config()
    if overrides:
        known = {field.name for field in dataclasses.fields(config)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"{method} has no settings {unknown}; its settings are "
                             f"{sorted(known)}")
        try:
            config = dataclasses.replace(config, **overrides)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{method}: {error}") from None
        source += f", changed: {', '.join(sorted(overrides))}"
    return config, source


def store_key(inputs: dict[str, Any]) -> str:
    """The key of a run in a ``store``: :func:`cache_key` of its inputs without the source digest.

    Package versions stay in it (the lock pins them): a run made with another torch is not reused.
    """
    versions = {k: v for k, v in inputs["versions"].items() if k != "revs_source"}
    return cache_key({**inputs, "versions": versions})


def _machine() -> dict[str, Any]:
    """What a stored run records of where it ran: the commit, and the bfloat16 path it took.

    :func:`evaluate` adds ``weights``, a digest of the model the method edited, as loaded.
    """
    import subprocess

    from ..bf16 import native_bf16

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"commit": commit or None, "cpu_bf16_units": native_bf16("cpu")}


def _as_dict(config: Any) -> Any:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config


def _file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _model_identity(model: str | None) -> Any:
    """What names the base model's weights: the embedded model, or a folder's files."""
    if model is None or str(model) == EMBEDDED_MODEL:
        return EMBEDDED_MODEL
    path = Path(model).resolve()
    files = sorted(p for p in path.glob("*") if p.is_file()) if path.is_dir() else [path]
    return [str(path), [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]]
