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
    ``[n_tokens, n_layers_asked]``. A prefix that begins another token's prefix (the tokens of
    one secret) is read inside that longer sequence at its own last position, so each longest
    prefix runs once; sequences are right-padded. Under causal attention neither the rest of a
    longer sequence nor the padding reaches a position.
    """
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    layers = [n_layers - 1] if layers is None else list(layers)
    projection = vocab_projection(model)
    device = next(model.parameters()).device
    sequences, reads = _host_sequences([t.prefix_ids for t in tokens])
    out = torch.zeros(len(tokens), len(layers), dtype=torch.long)
    for start in range(0, len(sequences), batch_size):
        batch = range(start, min(start + batch_size, len(sequences)))
        wanted = [(i, row, position) for row, host in enumerate(batch)
                  for i, position in reads[host]]  # (token, batch row, position)
        ids, mask = pad_batch([sequences[host] for host in batch], pad_id)
        rows = torch.tensor([row for _, row, _ in wanted])
        positions = torch.tensor([position for _, _, position in wanted])
        with capture(model, layers, positions="all", sites=("residual_after",),
                     stop_after=max(layers), layout=layout) as acts:
            model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        residual = torch.stack([acts.get(layer, "residual_after")[rows, positions]
                                for layer in layers], 1)  # [n_read, layers, d_model]
        logits = projection.project(residual.to(projection.device))  # [n_read, layers, d_vocab]
        ids_wanted = torch.tensor([tokens[i].token_id for i, _, _ in wanted],
                                  device=logits.device)[:, None]
        out[[i for i, _, _ in wanted]] = token_rank(logits, ids_wanted).cpu()
    return out


def _host_sequences(
    prefixes: Sequence[Sequence[int]],
) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """The fewest sequences that contain every prefix as a beginning, and where to read each.

    Returns ``(sequences, reads)``: ``reads[s]`` lists ``(prefix index, position)`` pairs read
    from ``sequences[s]``, in the prefixes' order of first appearance.
    """
    order = sorted(range(len(prefixes)), key=lambda i: -len(prefixes[i]))
    starts: dict[tuple[int, ...], int] = {}  # every beginning of a sequence -> that sequence
    sequences: list[list[int]] = []
    reads: list[list[tuple[int, int]]] = []
    for i in order:
        key = tuple(prefixes[i])
        if key not in starts:
            starts.update((key[:n], len(sequences)) for n in range(1, len(key) + 1)
                          if key[:n] not in starts)
            sequences.append(list(key))
            reads.append([])
        reads[starts[key]].append((i, len(key) - 1))
    return sequences, reads


def lens_ranks(
    forward: PrefixForward, layers: range, projection: VocabProjection, token_id: int, *,
    thresholds: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
) -> dict[int, tuple[int, int]]:
    """Layer -> the token's (residual, MLP output) logit-lens ranks, in one unembedding pass.

    ``thresholds``: ``(residual thresholds, MLP thresholds)`` the caller compares the ranks
    with (the layer rule's band ends). Given, each rank is exact only as far as those
    comparisons need (:meth:`revs.vocab.VocabProjection.decided_ranks`: a bfloat16 screen,
    rechecked in float32 near a threshold); ``None``: exact float32 ranks.
    """
    vectors = torch.stack([
        torch.stack([forward[i].residual_after[0, -1], forward[i].mlp_out[0, -1]])
        for i in layers
    ]).to(projection.device)  # [n_layers, 2, d_model]
    if thresholds is None:
        ranks = token_rank(projection.project(vectors), token_id)  # [n_layers, 2]
    else:
        ranks = torch.stack([projection.decided_ranks(vectors[:, 0], token_id, thresholds[0]),
                             projection.decided_ranks(vectors[:, 1], token_id, thresholds[1])],
                            -1)
    return {layer: tuple(ranks[j].tolist()) for j, layer in enumerate(layers)}
