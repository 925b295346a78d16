"""Tidy tables that the book's chapters show: what a model emits, where a secret's token ranks.

Each function runs the model and returns a pandas DataFrame (one row per observation), so a
notebook cell is one call and :mod:`revs.report.plots` draws any of them without touching a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .. import sharing
from ..config import REVSConfig
from ..data.records import Record, Split, split_records
from ..data.rules import RULES, get_rule
from ..demote import demote_rank
from ..edit import revert_edits_
from ..evaluation.attacks import logit_lens_layer_scores
from ..evaluation.generation import exact_reproduction, greedy_continuations, greedy_matches_ids
from ..hooks import capture
from ..layout import neuron_weights
from ..select import select_neurons
from ..targets import select_target_tokens
from ..tokens import encode
from ..unlearn import unlearn
from ..vocab import token_rank, vocab_projection

__all__ = ["SELECTIONS", "collateral", "collateral_reading", "collateral_steps", "demotion_trace",
           "edited_tokens", "layer_scores", "leak_table", "lens_ranks", "neuron_table",
           "neuron_token_ranks", "records_table", "reproduction_by_part", "rule_picks",
           "rules_table", "selections", "shared_tokens", "sharing_table", "top_tokens"]

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


def rules_table():
    """The token rules records can carry (:data:`revs.data.rules.RULES`), one row each."""
    import pandas as pd

    return pd.DataFrame([(r.name, r.description) for r in RULES.values()],
                        columns=["rule", "what it unlearns"]).set_index("rule")


def rule_picks(tokenizer, records: Sequence[Record], also: Sequence[str] = (),
               config: REVSConfig | None = None):
    """What each record's own rule, and each rule in ``also``, picks in its secret.

    One row per (secret, rule), the record's own rule first: ``secret``, ``rule``, ``own``
    (whether it is the record's rule), ``candidates`` (the tokens the rule leaves, in order) and
    ``picked`` (those ``config`` keeps, default the two rarest); both empty when the rule leaves
    nothing.
    """
    import pandas as pd

    config = config or REVSConfig()
    rows = []
    for record in records:
        for name in dict.fromkeys([record.rule, *also]):
            rule = get_rule(name)
            try:
                every = select_target_tokens(tokenizer, record, max_tokens=None, method="first",
                                             rule=rule)
                kept = select_target_tokens(tokenizer, record, max_tokens=config.max_tokens,
                                            method=config.token_method, rule=rule)
            except ValueError:  # the rule leaves nothing in this secret
                every = kept = []
            rows.append((record.secret, name, name == record.rule, [t.text for t in every],
                         [t.text for t in kept]))
    return pd.DataFrame(rows, columns=["secret", "rule", "own", "candidates", "picked"])


def sharing_table(tokenizer, datasets: dict[str, Sequence[Record]], seeds: Sequence[int],
                  config: REVSConfig | None = None):
    """Token sharing (:func:`revs.sharing.token_sharing`) of each dataset's split per seed.

    Columns: ``dataset``, ``rule`` (the records' rules), ``seed``, ``token_sharing``.
    """
    import pandas as pd

    return pd.DataFrame([
        (name, ", ".join(sorted({r.rule for r in records})), seed,
         sharing.token_sharing(tokenizer, split_records(records, seed), config))
        for name, records in datasets.items() for seed in seeds
    ], columns=["dataset", "rule", "seed", "token_sharing"])


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


def layer_scores(model: nn.Module, tokenizer, records: Sequence[Record],
                 config: REVSConfig | None = None, *, k: int = 100):
    """The logit-lens attack layer by layer: mean over records of the capped rank score.

    At each layer's residual stream, a record scores ``min(1, rank / k)`` for the best-ranked of
    its selected tokens (two-sided, as the attack), so 1 means the secret is out of the
    attacker's top ``k`` there. Columns: ``layer``, ``score``. The attack's value is the minimum.
    """
    import pandas as pd

    scores = logit_lens_layer_scores(model, tokenizer, records, config or REVSConfig(), k=k)
    return pd.DataFrame({"layer": range(len(scores)), "score": scores.tolist()})


def shared_tokens(tokenizer, split: Split, config: REVSConfig | None = None):
    """Which retained secrets contain a token unlearned for the forget split, as a table.

    One row per retained subject: ``subject``, ``secret``, ``shared`` (the texts of the
    unlearned tokens among its tokens), ``n_shared`` (:func:`revs.sharing.shared_tokens`; the
    unlearned tokens are each record's rule with ``config``'s count, default the paper's).
    """
    import pandas as pd

    rows = sharing.shared_tokens(tokenizer, split, config)
    return pd.DataFrame([(r.subject, r.secret, list(r.shared), len(r.shared)) for r in rows],
                        columns=["subject", "secret", "shared", "n_shared"])


def collateral(model, tokenizer, split: Split, config: REVSConfig | None = None):
    """Forget the split's secrets one at a time with REVS and watch the retained ones break.

    Before the first and after each forgotten secret, greedy decoding from every retained prompt
    is checked against its secret (teacher-forced,
    :func:`revs.evaluation.generation.greedy_matches_ids`): does it still write the secret, and if
    not, which token does it get wrong first? If REVS's collateral damage is token-level, that
    token is one REVS has demoted for a forgotten secret.
    REVS edits one target after another anyway, so after the last step the model holds the edits
    of one :func:`revs.unlearn` call on the whole forget split (``"contrastive"`` scores see the
    other forget secrets as their contrast, as there). The model is edited in place and restored
    bit-exactly at the end, also on error.

    Returns one row per step and retained record: ``forgotten`` (secrets forgotten so far),
    ``subject``, ``secret``, ``unlearned`` (texts of the tokens demoted so far), ``reproduced``,
    ``broken_at`` (the first wrong token's text; empty when reproduced), ``at_unlearned`` (that
    token was demoted) and ``shares`` (the secret contains a demoted token).
    """
    import pandas as pd

    config = config or REVSConfig()
    pairs = [encode(tokenizer, record) for record in split.retain]
    demoted: dict[int, str] = {}
    edits, rows = [], []
    try:
        for step in range(len(split.forget) + 1):
            if step:
                others = split.forget[:step - 1] + split.forget[step:]
                result = unlearn(model, tokenizer, [split.forget[step - 1]], config,
                                 contrast=others, progress=False)
                edits += result.edits
                demoted |= {t.token_id: t.text for t in result.tokens if t.neurons}
            checks = greedy_matches_ids(model, [p for p, _ in pairs], [t for _, t in pairs],
                                        pad_id=tokenizer.pad_token_id or 0)
            unlearned = tuple(sorted(demoted.values()))
            for record, (_, target), check in zip(split.retain, pairs, checks, strict=True):
                wrong = None if check.matched else target[check.matched_tokens]
                rows.append({
                    "forgotten": step, "subject": record.subject, "secret": record.secret,
                    "unlearned": unlearned, "reproduced": check.matched,
                    "broken_at": "" if wrong is None else tokenizer.decode([wrong]),
                    "at_unlearned": wrong in demoted, "shares": bool(demoted.keys() & set(target)),
                })
    finally:
        revert_edits_(model, edits)
    return pd.DataFrame(rows)


def collateral_steps(trace):
    """The rows of :func:`collateral` summed up per step.

    Columns: ``forgotten``, ``demoted`` (the tokens this step's secret had demoted, quoted),
    ``kept`` (share of retained records still written), ``broken`` (how many are not) and
    ``at_unlearned`` (share of those whose first wrong token is a demoted one; NaN when none
    break).
    """
    broken = ~trace.reproduced
    steps = trace.assign(broken=broken,
                         at_unlearned=trace.at_unlearned.astype(float).where(broken))
    steps = steps.groupby("forgotten", as_index=False).agg(
        unlearned=("unlearned", "first"), kept=("reproduced", "mean"), broken=("broken", "sum"),
        at_unlearned=("at_unlearned", "mean"))
    before = [(), *steps.unlearned[:-1]]
    demoted = [" ".join(repr(t) for t in now if t not in set(was))
               for was, now in zip(before, steps.unlearned, strict=True)]
    steps.insert(1, "demoted", demoted)
    return steps.drop(columns="unlearned")


def collateral_reading(trace) -> str:
    """What the rows of :func:`collateral` (any number of testbeds) say of the damage, in words.

    The damage is called token-level when more than half of the lost retained secrets first go
    wrong at a demoted token and a secret that shares a demoted token is kept less often than
    one that shares none; otherwise the sentence says which of the two fails.
    """
    after = trace[trace.forgotten > 0]
    lost = after[~after.reproduced]
    if lost.empty:
        return "no retained secret is lost, so there is no damage to place"
    at_demoted = float(lost.at_unlearned.mean())
    shared = after[after.shares].reproduced.mean()
    unshared = after[~after.shares].reproduced.mean()
    if at_demoted <= 0.5:
        return ("at most half of the lost secrets first go wrong at a token REVS demoted: the "
                "damage is not token-level here")
    if after.shares.all():
        return ("the damage is token-level: most lost secrets first go wrong at a token REVS "
                "demoted (every retained secret shares one, so sharing cannot be compared)")
    if shared < unshared:
        return ("the damage is token-level: most lost secrets first go wrong at a token REVS "
                "demoted, and sharing such a token is what puts a retained secret at risk")
    return ("most lost secrets first go wrong at a demoted token, but sharing one does not make "
            "a retained secret less likely to be written")
