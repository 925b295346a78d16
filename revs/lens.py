"""Where a token ranks in the logit lens: the measurements REVS decides by and reports.

:func:`token_ranks` reads, for many (prefix, token) pairs in batches, the token's rank after its
prefix in the logit lens of chosen layers' residual stream (the last layer's is the model's
output). :func:`lens_ranks` reads the residual and MLP-output ranks of one token at every layer
of an editing pass, in one unembedding call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .forward import PrefixForward
from .hooks import capture
from .layout import decoder_layers, get_layout
from .targets import TargetToken
from .tokens import pad_batch
from .vocab import VocabProjection, token_rank, vocab_projection

__all__ = ["lens_ranks", "token_ranks"]


@torch.no_grad()
def token_ranks(
    model: nn.Module, tokens: Sequence[TargetToken], *, layers: Sequence[int] | None = None,
    batch_size: int = 32, pad_id: int = 0,
) -> torch.Tensor:
    """Rank of each token after its prefix in the logit lens of the residual after ``layers``.

    Default: the last layer only, whose logit lens is the model's output. Returns int64
    ``[n_tokens, n_layers_asked]``. Prefixes are right-padded and read at their own last
    position, which the padding cannot reach under causal attention.
    """
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    layers = [n_layers - 1] if layers is None else list(layers)
    projection = vocab_projection(model)
    device = next(model.parameters()).device
    out = torch.zeros(len(tokens), len(layers), dtype=torch.long)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size]
        ids, mask = pad_batch([t.prefix_ids for t in batch], pad_id)
        last = mask.sum(1) - 1  # [batch]
        with capture(model, layers, positions=last, sites=("residual_after",),
                     stop_after=max(layers), layout=layout) as acts:
            model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        residual = torch.cat([acts.get(layer, "residual_after") for layer in layers], 1)
        logits = projection.project(residual.to(projection.device))  # [batch, layers, d_vocab]
        wanted = torch.tensor([t.token_id for t in batch], device=logits.device)[:, None]
        out[start : start + len(batch)] = token_rank(logits, wanted).cpu()
    return out


def lens_ranks(
    forward: PrefixForward, layers: range, projection: VocabProjection, token_id: int
) -> dict[int, tuple[int, int]]:
    """Layer -> the token's (residual, MLP output) logit-lens ranks, in one unembedding pass."""
    vectors = torch.stack([
        torch.stack([forward[i].residual_after[0, -1], forward[i].mlp_out[0, -1]])
        for i in layers
    ])  # [n_layers, 2, d_model]
    ranks = token_rank(projection.project(vectors.to(projection.device)), token_id)
    return {layer: tuple(ranks[j].tolist()) for j, layer in enumerate(layers)}
