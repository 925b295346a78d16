"""The memorization testbed: fine-tune a model until it reproduces secrets verbatim.

REVS can only be shown working on a model that leaks. The paper fine-tuned its models on synthetic
SSN sentences until greedy decoding reproduced them (spec §5.1, recipe unpublished); ``memorize``
does the same for any list of :class:`~revs.data.records.Record` and caches the resulting
checkpoint, keyed by the records, the recipe and the base model, so the book and the tests reuse it.

The recipe (:class:`MemorizeRecipe`) trains on all records (forget, generality and retain prompts
alike: specificity needs the retained secrets memorized too), with the loss on the target tokens
only, and stops as soon as every record is reproduced exactly. At every step it also pulls the
model's predictions on general text towards those of the unmodified model (a KL term), which keeps
its perplexity where it was: without it, memorizing the URL testbed raised the held-out
perplexity by about a third.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..bf16 import bf16_matmuls
from ..data import load_dataset, split_records
from ..data.corpus import general_corpus
from ..data.records import Record, records_digest
from ..evaluation.generation import exact_reproduction
from ..evaluation.metrics import perplexity
from ..layout import decoder_layers, get_layout, layer_module
from ..model import EMBEDDED_MODEL, cache_dir, load_model
from ..tokens import encode, pad_batch

__all__ = ["MemorizeRecipe", "Memorized", "memorize"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemorizeRecipe:
    """How to fine-tune a model into one that memorizes its records."""

    lr: float = 1.5e-4
    """AdamW learning rate (constant)."""
    batch_size: int = 10
    """Records per optimizer step."""
    max_epochs: int = 12
    """Upper bound on passes over the records."""
    min_epochs: int = 4
    """Epochs before the first memorization check (each check costs one forward pass)."""
    stop_rate: float = 1.0
    """Stop once this fraction of records is reproduced exactly."""
    trainable: str = "all"
    """Which weights train: ``"all"`` decoder layers, or ``"mlp"`` (MLP blocks only). The
    (tied) embedding and unembedding stay frozen."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    replay_tokens: int = 256
    """General-corpus tokens per step on which the model is pulled towards the unmodified
    model's next-token distribution (KL divergence; 0: none). This keeps its perplexity close to
    the base model's. A language-modelling loss would instead *train* on the corpus's domain and
    lower the held-out perplexity used to check integrity, hiding any damage."""
    replay_chunk: int = 128
    """Length of one replayed chunk, in tokens."""
    replay_weight: float = 1.0
    """Weight of the replay (KL) loss relative to the memorization loss."""
    autocast: str | None = "bfloat16"
    """Run forward and backward passes under ``torch.autocast`` in this dtype (weights and
    optimizer state stay float32); about twice as fast on CPUs with bfloat16 instructions. On a
    CPU without them the bfloat16 products run as float32 ones, rounded (:mod:`revs.bf16`): the
    same arithmetic, not the ~45x slower generic kernel.
    ``None`` trains in the model's dtype."""
    seed: int = 0
    """Seed of the batch order."""


@dataclass
class Memorized:
    """A memorizing model, its tokenizer and how it was made."""

    model: nn.Module
    tokenizer: object
    path: Path
    """Folder of the cached checkpoint (``save_pretrained`` format)."""
    info: dict
    """Recipe, epochs run, exact-reproduction rate, training seconds, and the base model."""


def _trainable_parameters(model: nn.Module, trainable: str) -> list[nn.Parameter]:
    layout = get_layout(model)
    if trainable == "all":
        return [p for p in decoder_layers(model, layout).parameters()]
    if trainable == "mlp":
        return [p for i in range(len(decoder_layers(model, layout)))
                for p in layer_module(model, i, "mlp", layout).parameters()]
    raise ValueError(f"trainable must be 'all' or 'mlp', got {trainable!r}")


def _target_loss(model: nn.Module, batch: list[tuple[list[int], list[int]]], pad_id: int):
    """Cross-entropy on the target tokens only, with logits computed only where needed."""
    ids, mask = pad_batch([p + t for p, t in batch], pad_id, side="right")
    labels = torch.full_like(ids, -100)
    for row, (prompt, target) in enumerate(batch):
        labels[row, len(prompt) : len(prompt) + len(target)] = torch.as_tensor(target)
    device = next(model.parameters()).device
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    # The full-vocabulary projection is the most expensive matmul: apply it to target positions
    # only. (base_model's output has been through the final norm, for every architecture.)
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    selected = labels[:, 1:] != -100
    logits = model.get_output_embeddings()(hidden[selected])  # [n_target_tokens, d_vocab]
    return nn.functional.cross_entropy(logits.float(), labels[:, 1:][selected])


def _replay_chunks(tokenizer, chunk: int) -> torch.Tensor:
    """The general corpus's train part as consecutive ``[n_chunks, chunk]`` token ids."""
    ids: list[int] = []
    for text in general_corpus("train"):
        ids.extend(tokenizer(text, add_special_tokens=False).input_ids)
        ids.append(tokenizer.eos_token_id)
    n_chunks = len(ids) // chunk
    return torch.tensor(ids[: n_chunks * chunk]).view(n_chunks, chunk)


def _replay_loss(model: nn.Module, reference: nn.Module, chunks: torch.Tensor) -> torch.Tensor:
    """Mean per-token KL(reference || model) of the next-token distributions on ``chunks``."""
    chunks = chunks.to(next(model.parameters()).device)
    with torch.no_grad():
        target = reference(input_ids=chunks).logits.float().log_softmax(-1)
    logits = model(input_ids=chunks).logits.float().log_softmax(-1)  # [n, chunk, d_vocab]
    return nn.functional.kl_div(logits.flatten(0, 1), target.flatten(0, 1), log_target=True,
                                reduction="batchmean")


def _cache_key(records: Sequence[Record], recipe: MemorizeRecipe, base: str) -> str:
    payload = json.dumps([records_digest(records), dataclasses.asdict(recipe), base],
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_to_memorize(
    model: nn.Module, tokenizer, records: Sequence[Record], recipe: MemorizeRecipe
) -> dict:
    """Fine-tune ``model`` in place until it reproduces ``records`` (see :class:`MemorizeRecipe`).

    Returns what happened: epochs run, the exact-reproduction rate after each check, seconds.
    """
    encoded = [encode(tokenizer, r) for r in records]
    params = _trainable_parameters(model, recipe.trainable)
    was_training = model.training
    requires_grad = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(recipe.seed)
    replay = _replay_chunks(tokenizer, recipe.replay_chunk) if recipe.replay_tokens else None
    reference = copy.deepcopy(model).eval().requires_grad_(False) if replay is not None else None
    per_step = max(1, recipe.replay_tokens // recipe.replay_chunk)
    replay_order = torch.randperm(len(replay), generator=generator) if replay is not None else None
    step = 0
    device_type = next(model.parameters()).device.type
    autocast = (torch.autocast(device_type, dtype=getattr(torch, recipe.autocast))
                if recipe.autocast else contextlib.nullcontext())
    products = bf16_matmuls(device_type, getattr(torch, recipe.autocast) if recipe.autocast
                            else next(model.parameters()).dtype)
    history: list[dict] = []
    start = time.perf_counter()
    try:
        for epoch in tqdm(range(1, recipe.max_epochs + 1), desc="memorize", unit="epoch"):
            model.train()
            order = torch.randperm(len(encoded), generator=generator).tolist()
            losses = []
            for i in range(0, len(order), recipe.batch_size):
                batch = [encoded[j] for j in order[i : i + recipe.batch_size]]
                with products:  # forward and backward
                    with autocast:
                        loss = _target_loss(model, batch, tokenizer.pad_token_id)
                        if replay is not None:
                            rows = replay_order[torch.arange(step * per_step,
                                                             (step + 1) * per_step)
                                                % len(replay)]
                            loss = loss + recipe.replay_weight * _replay_loss(
                                model, reference, replay[rows])
                    loss.backward()
                step += 1
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
            entry = {"epoch": epoch, "loss": sum(losses) / len(losses),
                     "seconds": time.perf_counter() - start}
            if epoch >= recipe.min_epochs or epoch == recipe.max_epochs:
                model.eval()
                entry["exact"] = exact_reproduction(model, tokenizer, records).float().mean().item()
            history.append(entry)
            logger.info("memorize epoch %d: %s", epoch, entry)
            if entry.get("exact", 0.0) >= recipe.stop_rate:
                break
    finally:
        for p, flag in requires_grad.items():
            p.requires_grad_(flag)
        model.train(was_training)
    return {"epochs": history[-1]["epoch"], "exact": history[-1].get("exact"),
            "seconds": time.perf_counter() - start, "history": history}


def memorize(
    records: Sequence[Record],
    recipe: MemorizeRecipe | None = None,
    *,
    base_model: str | None = None,
    use_cache: bool = True,
) -> Memorized:
    """A model fine-tuned to reproduce ``records``, built on first use and cached afterwards.

    Args:
        records: the contexts and secrets to memorize (all of them are trained on).
        recipe: the fine-tuning recipe; the default reaches exact reproduction of the SSN, e-mail
            and URL testbeds on the embedded model.
        base_model: what :func:`revs.load_model` should load (default: the embedded model).
        use_cache: reuse a cached checkpoint for the same records, recipe and base model.

    The cache folder is keyed by a hash of the records (never stored in clear in the key), the
    recipe and the base model; it holds the checkpoint and ``memorize.json`` (how it was made).
    """
    recipe = recipe or MemorizeRecipe()
    if not records:
        raise ValueError("memorize needs at least one record")
    base = str(base_model or EMBEDDED_MODEL)
    path = cache_dir() / "testbeds" / _cache_key(records, recipe, base)
    if use_cache and (path / "memorize.json").is_file():
        model, tokenizer = load_model(path)
        return Memorized(model, tokenizer, path, json.loads((path / "memorize.json").read_text()))

    model, tokenizer = load_model(base_model)
    info = train_to_memorize(model, tokenizer, records, recipe)
    info.update(recipe=dataclasses.asdict(recipe), base_model=base, n_records=len(records),
                records_sha256=records_digest(records))
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "memorize.json").write_text(json.dumps(info, indent=2))
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Memorized(model, tokenizer, path, info)


PERPLEXITY_DOCUMENTS = 100
"""Held-out corpus documents used for the testbed's perplexity (about 10,000 tokens)."""


def testbed_report(
    dataset: str,
    *,
    seed: int = 0,
    n_subjects: int = 40,
    recipe: MemorizeRecipe | None = None,
    perplexity_documents: int = PERPLEXITY_DOCUMENTS,
) -> dict:
    """Build (or load) the memorizing model of ``dataset`` and measure it.

    Returns the exact-reproduction rate on the forget, generality and retain prompts of the
    paper's split for ``seed``, the perplexity of the base and memorizing models on the held-out
    general corpus, and wall-clock seconds (``seconds``: this call, building included;
    ``training_seconds``: the fine-tuning when it ran, possibly in an earlier call).
    """
    start = time.perf_counter()
    records = load_dataset(dataset, n_subjects=n_subjects)
    memorized = memorize(records, recipe)
    split = split_records(records, seed)
    exact = {
        part: exact_reproduction(memorized.model, memorized.tokenizer, getattr(split, part))
        .float().mean().item()
        for part in ("forget", "generality", "retain") if getattr(split, part)
    }
    texts = general_corpus("heldout", max_documents=perplexity_documents)
    base, _ = load_model(memorized.info["base_model"])
    ppl_before = perplexity(base, memorized.tokenizer, texts)
    ppl_after = perplexity(memorized.model, memorized.tokenizer, texts)
    return {
        "dataset": dataset,
        "n_records": len(records),
        "seed": seed,
        **{f"{part}_exact": value for part, value in exact.items()},
        "ppl_before": ppl_before,
        "ppl_after": ppl_after,
        "ppl_increase": ppl_after / ppl_before - 1,
        "epochs": memorized.info["epochs"],
        "training_seconds": memorized.info["seconds"],
        "seconds": time.perf_counter() - start,
        "checkpoint": str(memorized.path),
    }
