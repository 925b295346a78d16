"""Runs of REVS on a memorization testbed: split, unlearn, measure (spec §4.6).

One run = (settings, seed): load the memorizing model afresh, split the dataset with the seed,
unlearn the forget targets, and score efficacy, generality, specificity and leaks.
"""

from __future__ import annotations

import logging
import time

from .config import REVSConfig
from .metrics import efficacy, emitted, generality, harmonic_mean
from .unlearn import unlearn

__all__ = ["unlearn_testbed"]

logger = logging.getLogger(__name__)


def unlearn_testbed(
    dataset: str = "ssn",
    *,
    seed: int = 0,
    config: REVSConfig | None = None,
    k: int = 100,
    n_subjects: int = 40,
    n_forget: int | None = None,
    max_new_tokens: int = 50,
    progress: bool = False,
    patch_path: str | None = None,
) -> dict:
    """Unlearn the forget split of ``dataset``'s testbed with REVS and score the result.

    Args:
        dataset: ``ssn``, ``emails`` or ``urls`` (see :func:`revs.data.load_dataset`).
        seed: seed of the forget / generality / retain split (spec §5.1).
        config: REVS settings (default :func:`default_config` for the model).
        k: rank threshold of the scores.
        n_subjects: subjects in the dataset (x 5 records).
        n_forget: subjects to forget (default: half).
        max_new_tokens: greedy tokens generated for specificity and leak checks.
        progress: show the unlearning progress bar.
        patch_path: also save the edits as a patch there.

    Returns:
        A flat dict: ``efficacy``, ``generality`` (worst layer, as the official code),
        ``generality_output`` (model output only), ``specificity``, ``unlearning_score``,
        ``leaked_forget`` / ``leaked_generality`` (records whose secret greedy decoding still
        emits), ``seconds_per_target``, edit counts, forward passes and the settings.
    """
    import dataclasses

    from .data import load_dataset, split_records
    from .testbed import memorize

    records = load_dataset(dataset, n_subjects=n_subjects)
    memorized = memorize(records)
    model, tokenizer = memorized.model, memorized.tokenizer
    config = config or REVSConfig()
    split = split_records(records, seed, n_forget=n_forget)
    before_retain = emitted(model, tokenizer, split.retain, max_new_tokens=max_new_tokens)
    result = unlearn(model, tokenizer, split.forget, config, progress=progress)
    if patch_path:
        result.patch.save(patch_path)
    start = time.perf_counter()
    scores = {
        "efficacy": efficacy(model, tokenizer, split.forget, config, k=k),
        "generality": generality(model, tokenizer, split.generality, config, k=k),
        "generality_output": generality(model, tokenizer, split.generality, config, k=k,
                                        all_layers=False),
    }
    retain_after = emitted(model, tokenizer, split.retain, max_new_tokens=max_new_tokens)
    scores["specificity"] = retain_after.float().mean().item()
    scores["unlearning_score"] = harmonic_mean(
        [scores["efficacy"], scores["generality"], scores["specificity"]])
    leaked_forget = emitted(model, tokenizer, split.forget, max_new_tokens=max_new_tokens)
    leaked_generality = emitted(model, tokenizer, split.generality, max_new_tokens=max_new_tokens)
    logger.info("scored in %.1f s", time.perf_counter() - start)
    return {
        "dataset": dataset,
        "seed": seed,
        "k": k,
        **scores,
        "leaked_forget": int(leaked_forget.sum()),
        "leaked_generality": int(leaked_generality.sum()),
        "n_forget": len(split.forget),
        "n_generality": len(split.generality),
        "n_retain": len(split.retain),
        "retain_emitted_before": int(before_retain.sum()),
        "seconds": result.seconds,
        "seconds_per_target": result.seconds / len(split.forget),
        "forward_passes": result.forward_passes,
        "layer_edits": len(result.edits),
        "neurons_edited": result.n_neurons,
        "neurons_per_layer": result.neurons_per_layer(),
        "skipped_targets": result.skipped,
        "config": dataclasses.asdict(config),
    }
