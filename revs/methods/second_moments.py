"""MEMIT's key statistics, ``C = E[k kᵀ]`` of each layer's MLP keys over general text.

The keys are the input of the MLP output projection; ``C`` is their uncentered second moment over
tokens of the offline general corpus.

The official code downloads precomputed Wikipedia statistics; here they are computed locally, once
per model and layer set, and cached on disk under ``<cache>/memit`` keyed by a digest of the
model's weights, the corpus and the token count (a fine-tuned testbed model gets its own).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.corpus import corpus_digest, general_corpus
from ..hooks import capture
from ..layout import get_layout
from ..model import cache_dir, weights_digest
from ..tokens import pad_batch

__all__ = ["key_second_moments"]

logger = logging.getLogger(__name__)


def _chunks(tokenizer, n_tokens: int, length: int) -> list[list[int]]:
    chunks, total = [], 0
    for text in general_corpus("train"):
        ids = tokenizer(text, add_special_tokens=False).input_ids
        for start in range(0, len(ids), length):
            piece = ids[start : start + length][: n_tokens - total]
            if len(piece) >= 2:
                chunks.append(piece)
                total += len(piece)
            if total >= n_tokens:
                return chunks
    return chunks


@torch.no_grad()
def key_second_moments(model: nn.Module, tokenizer, layers: Sequence[int], *, n_tokens: int,
                       batch_size: int = 8, use_cache: bool = True) -> dict[int, torch.Tensor]:
    """``E[k kᵀ]`` of the MLP keys of each of ``layers``, ``{layer: [d_mlp, d_mlp]}`` float32.

    Read over the first ``n_tokens`` tokens of the general corpus's training part, in chunks no
    longer than the model's context.
    """
    layers = sorted(set(layers))
    if n_tokens < 1:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}")
    key = hashlib.sha256(
        f"{weights_digest(model)}|{corpus_digest()}|{n_tokens}|{layers}".encode()
    ).hexdigest()[:24]
    path = cache_dir() / "memit" / f"second-moments-{key}.pt"
    if use_cache and path.is_file():
        logger.info("MEMIT second moments from %s", path)
        stored = torch.load(path, weights_only=True)
        return {layer: stored[layer] for layer in layers}
    layout = get_layout(model)
    config = getattr(model, "config", None)
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions",
                                                                          512)
    chunks = _chunks(tokenizer, n_tokens, min(256, int(context)))
    device = next(model.parameters()).device
    sums: dict[int, torch.Tensor] = {}
    count = 0
    for start in tqdm(range(0, len(chunks), batch_size), desc="MEMIT key statistics",
                      leave=False):
        ids, mask = pad_batch(chunks[start : start + batch_size], tokenizer.pad_token_id or 0)
        with capture(model, layers, positions="all", sites=("mlp_activations",),
                     stop_after=layers[-1], layout=layout) as acts:
            model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        real = mask.to(device).bool()
        for layer in layers:
            keys = acts.get(layer, "mlp_activations")[real].float()  # [tokens, d_mlp]
            sums[layer] = sums.get(layer, 0) + keys.T @ keys
        count += int(real.sum())
    moments = {layer: (total / count).cpu() for layer, total in sums.items()}
    logger.info("MEMIT second moments of layers %s from %d tokens", layers, count)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(moments, path)
    return {layer: moments[layer].to(device) for layer in layers}
