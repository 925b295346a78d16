"""Tidy tables that the book's chapters show: what a model emits, where a secret's token ranks.

Each function runs the model and returns a pandas DataFrame (one row per observation), so a
notebook cell is one call and :mod:`revs.plots` draws any of them without touching a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .config import REVSConfig
from .data.records import Record, Split
from .demote import demote_rank
from .generation import exact_reproduction, greedy_continuations
from .hooks import capture
from .layout import neuron_weights
from .select import select_neurons
from .vocab import token_rank, vocab_projection

__all__ = ["SELECTIONS", "ablation", "ablation_families", "demotion_trace", "edited_tokens",
           "layer_scores", "leak_table", "lens_ranks", "neuron_table", "neuron_token_ranks",
           "records_table", "reproduction_by_part", "scorecard", "selections", "top_tokens"]

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


@torch.no_grad()
def neuron_table(model: nn.Module, prefix_ids: Sequence[int], token_id: int, layer: int):
    """Every neuron of ``layer`` at the prefix's last position: how it fires and what it promotes.

    Columns: ``neuron``, ``activation`` (its input to the MLP output projection), ``rank`` (of
    ``token_id`` in the neuron's vocabulary projection, 0 = top), ``contribution`` (activation x
    the token's logit in that projection: roughly what the neuron adds to the token's logit).
    """
    device = next(model.parameters()).device
    with capture(model, [layer], sites=("mlp_activations",), stop_after=layer) as acts:
        model(input_ids=torch.tensor([list(prefix_ids)], device=device), use_cache=False)
    activation = acts.get(layer, "mlp_activations")[0, -1].float().cpu()  # [d_mlp]
    table = neuron_token_ranks(model, layer, token_id).sort_values("neuron")
    table = table.assign(activation=activation.numpy())
    table["contribution"] = table["activation"] * table["logit"]
    return table[["neuron", "activation", "rank", "contribution"]].reset_index(drop=True)


SELECTIONS = {
    "hybrid (REVS)": {"score_method": "rank"},
    "activation": {"score_method": "activation"},
    "rank only": {"score_method": "rank", "act_filter": None},
    "random": {"score_method": "random"},
}
"""The paper's neuron-selection rules as :class:`REVSConfig` overrides (``act_filter=None``: every
neuron is a candidate, i.e. rank alone)."""


@torch.no_grad()
def selections(model: nn.Module, prefix_ids: Sequence[int], token_id: int, layer: int,
               config: REVSConfig | None = None):
    """The neurons each rule of :data:`SELECTIONS` picks in ``layer`` (REVS's own code path).

    Columns: ``rule``, ``order`` (0 = picked first), ``neuron``, ``activation``, ``rank``.
    """
    import dataclasses

    import pandas as pd

    config = config or REVSConfig()
    table = neuron_table(model, prefix_ids, token_id, layer)
    activations = torch.tensor(table["activation"].to_numpy())  # [d_mlp]
    rows = neuron_weights(model, layer)  # [d_mlp, d_model]
    out = []
    for rule, overrides in SELECTIONS.items():
        if overrides.get("act_filter", 0) is None:
            overrides = {**overrides, "act_filter": len(activations)}
        chosen = select_neurons(activations, rows, vocab_projection(model), token_id,
                                dataclasses.replace(config, **overrides))
        for order, neuron in enumerate(chosen.neurons.tolist()):
            out.append({"rule": rule, "order": order, "neuron": neuron,
                        "activation": float(activations[neuron]),
                        "rank": int(table["rank"][neuron])})
    return pd.DataFrame(out)


@torch.no_grad()
def demotion_trace(model: nn.Module, layer: int, neurons: Sequence[int], token_id: int,
                   config: REVSConfig | None = None):
    """The token's rank in each neuron's projection after every iteration of the demotion.

    Runs REVS's own :func:`~revs.demote.demote_rank` with 1, 2, ... iterations allowed (the search
    is deterministic, so its state after ``i`` iterations is the result of a run capped at ``i``)
    until it stops. Columns: ``neuron``, ``iteration`` (0 = before any edit), ``rank``,
    ``logit_step`` (the change of the token's normalized logit tried at that iteration).
    """
    import dataclasses

    import pandas as pd

    config = config or REVSConfig()
    projection = vocab_projection(model)
    vectors = neuron_weights(model, layer)[list(neurons)]  # [n, d_model]
    full = demote_rank(projection, vectors, token_id, config)
    rows = [{"neuron": n, "iteration": 0, "rank": int(r), "logit_step": 0.0}
            for n, r in zip(neurons, full.rank_before.tolist(), strict=True)]
    for iteration in range(1, full.iterations + 1):
        capped = demote_rank(projection, vectors, token_id,
                             dataclasses.replace(config, max_iter_neuron=iteration))
        rows += [{"neuron": n, "iteration": iteration, "rank": int(r), "logit_step": float(d)}
                 for n, r, d in zip(neurons, capped.rank_after.tolist(),
                                    capped.logit_step.tolist(), strict=True)]
    return pd.DataFrame(rows)


def edited_tokens(result):
    """One row per token :func:`revs.unlearn` worked on (from its :class:`UnlearnResult`).

    Columns: ``target`` (index into the targets), ``token``, ``position`` (in the secret),
    ``rank_before`` and ``rank_after`` (in the model's output after the token's prefix),
    ``layers`` (how many layers were edited for it), ``neurons`` (how many neurons in all).
    """
    import pandas as pd

    return pd.DataFrame([{
        "target": t.target, "token": t.text, "position": t.position,
        "rank_before": t.rank_before, "rank_after": t.rank_after,
        "layers": len(t.neurons), "neurons": sum(t.neurons.values()),
    } for t in result.tokens])


def scorecard(model: nn.Module, tokenizer, split: Split, config: REVSConfig | None = None, *,
              k: int = 100, corpus_documents: int = 20, max_new_tokens: int = 50) -> dict:
    """The headline numbers of an unlearning run on ``split`` (the runner's definitions).

    Efficacy and generality at ``k`` on the forget and generality records, specificity on the
    retain records, their harmonic mean (the unlearning score) and the perplexity on
    ``corpus_documents`` held-out documents of the offline corpus. A dict of floats.
    """
    from .data.corpus import general_corpus
    from .metrics import efficacy, generality, harmonic_mean, perplexity, specificity

    config = config or REVSConfig()
    scores = {"efficacy": efficacy(model, tokenizer, split.forget, config, k=k)}
    if split.generality:
        scores["generality"] = generality(model, tokenizer, split.generality, config, k=k)
    scores["specificity"] = specificity(model, tokenizer, split.retain,
                                        max_new_tokens=max_new_tokens)
    scores["unlearning score"] = harmonic_mean(list(scores.values()))
    texts = general_corpus("heldout", max_documents=corpus_documents)
    scores["perplexity"] = perplexity(model, tokenizer, texts)
    return scores


def layer_scores(model: nn.Module, tokenizer, records: Sequence[Record],
                 config: REVSConfig | None = None, *, k: int = 100):
    """The logit-lens attack layer by layer: mean over records of the capped rank score.

    At each layer's residual stream, a record scores ``min(1, rank / k)`` for the best-ranked of
    its selected tokens (two-sided, as the attack), so 1 means the secret is out of the
    attacker's top ``k`` there. Columns: ``layer``, ``score``. The attack's value is the minimum.
    """
    import pandas as pd

    from .attacks import logit_lens_layer_scores

    scores = logit_lens_layer_scores(model, tokenizer, records, config or REVSConfig(), k=k)
    return pd.DataFrame({"layer": range(len(scores)), "score": scores.tolist()})


def ablation(variants: Mapping[str, Mapping], dataset: str = "ssn", *, seeds: Sequence[int] = (0,),
             settings=None, base: REVSConfig | None = None):
    """REVS evaluated with each variant's settings (:func:`revs.evaluate`, cached per run).

    ``variants`` maps a label to :class:`REVSConfig` overrides of ``base`` (default: the paper's
    settings). Returns the runner's tidy rows (``method .. value``) with a ``variant`` column.
    """
    import dataclasses

    import pandas as pd

    from .runner import evaluate

    base = base or REVSConfig()
    frames = []
    for label, overrides in variants.items():
        config = dataclasses.replace(base, **overrides)
        results = evaluate("revs", dataset, seeds, config=config, settings=settings)
        frames.append(results.frame().assign(variant=label))
    return pd.concat(frames, ignore_index=True)


def ablation_families(smoke: bool = False) -> dict[str, dict[str, dict]]:
    """The book's ablations: family -> variant label -> :class:`REVSConfig` overrides.

    Each family varies one setting around the paper's (always one of the variants); ``smoke``
    keeps two variants per family.
    """
    counts = [5, 30] if smoke else [5, 15, 30, 60]
    token_methods = ["rarest", "first"] if smoke else ["rarest", "frequent", "first", "last",
                                                       "random"]
    score_methods = ["rank", "activation"] if smoke else ["rank", "activation", "random",
                                                          "contrastive"]
    bands = [(30_000, 45_000), (45_000, 49_000)] if smoke else [
        (10_000, 20_000), (30_000, 45_000), (45_000, 49_000)]
    protected = [0, 10] if smoke else [0, 10, 50]
    return {
        "neurons per layer": {f"N = {n}": {"n_neurons": n} for n in counts},
        "token selection": {m: {"token_method": m} for m in token_methods},
        "neuron score": {"hybrid" if m == "rank" else m: {"score_method": m}
                         for m in score_methods},
        "neuron band": {f"{lo // 1000}k–{hi // 1000}k": {"neuron_band": (lo, hi)}
                        for lo, hi in bands},
        "protected tokens": {f"{m} held" if m else "none (paper)": {"protect_tokens": m}
                             for m in protected},
    }
