"""Tidy tables that the book's chapters show: what a model emits, where a secret's token ranks.

Each function runs the model and returns a pandas DataFrame (one row per observation), so a
notebook cell is one call and :mod:`revs.plots` draws any of them without touching a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .data.records import Record, Split
from .generation import exact_reproduction, greedy_continuations
from .hooks import capture
from .layout import neuron_weights
from .vocab import token_rank, vocab_projection

__all__ = ["leak_table", "lens_ranks", "neuron_token_ranks", "records_table",
           "reproduction_by_part", "top_tokens"]

LENS_SITES = {"residual_after": "residual stream", "attention_out": "attention output",
              "mlp_out": "MLP output"}
"""Captured sites whose logit lens :func:`lens_ranks` reads, with the names its table uses."""


def leak_table(model: nn.Module, tokenizer, records: Sequence[Record], *,
               max_new_tokens: int = 24, prompt_chars: int = 60):
    """What greedy decoding writes after each record's prompt, and whether the secret is in it.

    Columns: ``subject``, ``prompt`` (its last ``prompt_chars`` characters, for display),
    ``continuation``, ``secret``, ``leaked`` (the secret occurs in prompt + continuation, the
    specificity test of spec §4.3).
    """
    import pandas as pd

    texts = greedy_continuations(model, tokenizer, [r.prompt for r in records],
                                 max_new_tokens=max_new_tokens)
    return pd.DataFrame({
        "subject": [r.subject for r in records],
        "prompt": [_tail(r.prompt, prompt_chars) for r in records],
        "continuation": texts,
        "secret": [r.secret for r in records],
        "leaked": [r.secret in r.prompt + text for r, text in zip(records, texts, strict=True)],
    })


def reproduction_by_part(models: Mapping[str, nn.Module], tokenizer, split: Split):
    """Share of each split part whose secret greedy decoding reproduces exactly, per model.

    Columns: ``model`` (the mapping's key), ``part`` (forget, generality, retain), ``records``,
    ``reproduced`` (a share in [0, 1]).
    """
    import pandas as pd

    rows = []
    for name, model in models.items():
        for part in ("forget", "generality", "retain"):
            records = getattr(split, part)
            if not records:
                continue
            exact = exact_reproduction(model, tokenizer, records)  # [n_records] bool
            rows.append({"model": name, "part": part, "records": len(records),
                         "reproduced": exact.to(torch.float32).mean().item()})
    return pd.DataFrame(rows)


def records_table(records: Sequence[Record], *, prompt_chars: int = 80):
    """Records for display: ``subject``, ``kind``, ``prompt`` (its tail) and ``secret``."""
    import pandas as pd

    return pd.DataFrame({
        "subject": [r.subject for r in records],
        "kind": [r.kind for r in records],
        "prompt": [_tail(r.prompt, prompt_chars) for r in records],
        "secret": [r.secret for r in records],
    })


def _tail(text: str, chars: int) -> str:
    return "…" + text[-chars:] if len(text) > chars else text


@torch.no_grad()
def lens_ranks(model: nn.Module, prefix_ids: Sequence[int], token_id: int):
    """Rank of ``token_id`` in the logit lens of every layer's residual stream and sub-modules.

    The model reads ``prefix_ids`` once; at the last position, the residual stream after each
    layer and that layer's attention and MLP outputs are projected to the vocabulary (final norm
    + unembedding) and the token's rank taken (0 = top-1). Columns: ``layer``, ``site`` (the
    names of :data:`LENS_SITES`), ``rank``.
    """
    import pandas as pd

    device = next(model.parameters()).device
    with capture(model, sites=tuple(LENS_SITES)) as acts:
        model(input_ids=torch.tensor([list(prefix_ids)], device=device), use_cache=False)
    projection = vocab_projection(model)
    rows = []
    for layer in acts.layers:
        vectors = torch.stack([acts.get(layer, site)[0, -1] for site in LENS_SITES])  # [3, d_model]
        ranks = token_rank(projection.project(vectors.to(projection.device)), token_id)  # [3]
        rows += [{"layer": layer, "site": name, "rank": int(rank)}
                 for name, rank in zip(LENS_SITES.values(), ranks.tolist(), strict=True)]
    return pd.DataFrame(rows)


@torch.no_grad()
def neuron_token_ranks(model: nn.Module, layer: int, token_id: int):
    """Rank of ``token_id`` in the vocabulary projection of every neuron of ``layer``.

    A neuron is one column of the MLP output projection; its logit lens says which tokens it
    promotes when it fires. Columns: ``neuron``, ``rank`` (0 = the token is the neuron's top
    token), ``logit``; sorted by rank.
    """
    import pandas as pd

    projection = vocab_projection(model)
    neurons = neuron_weights(model, layer).to(projection.device)  # [d_mlp, d_model]
    logits = projection.project(neurons)  # [d_mlp, d_vocab]
    ranks = token_rank(logits, token_id)  # [d_mlp]
    frame = pd.DataFrame({"neuron": range(len(ranks)), "rank": ranks.tolist(),
                          "logit": logits[:, token_id].tolist()})
    return frame.sort_values(["rank", "neuron"], kind="stable").reset_index(drop=True)


@torch.no_grad()
def top_tokens(model: nn.Module, tokenizer, vectors: torch.Tensor, *, k: int = 10,
               labels: Sequence[str] | None = None):
    """The ``k`` tokens each vector promotes most in its logit lens.

    ``vectors [n, d_model]`` (neurons, residual states). Columns: ``vector`` (its label, default
    its index), ``position`` (0 = top), ``token`` (decoded, with its spaces shown), ``logit``.
    """
    import pandas as pd

    projection = vocab_projection(model)
    logits = projection.project(vectors.to(projection.device))  # [n, d_vocab]
    values, ids = logits.topk(k, dim=-1)  # [n, k]
    labels = list(labels) if labels is not None else [str(i) for i in range(len(vectors))]
    rows = [{"vector": labels[i], "position": j, "token": repr(tokenizer.decode([int(t)])),
             "logit": float(v)}
            for i in range(len(vectors)) for j, (t, v) in enumerate(zip(ids[i], values[i],
                                                                       strict=True))]
    return pd.DataFrame(rows)
