import dataclasses
import importlib
import warnings

import pytest
import torch
from conftest import TINY_CONFIGS, build_tiny_model

from revs.config import REVSConfig
from revs.data.records import Record
from revs.edit import revert_edits_
from revs.layout import get_layout, layer_module, neuron_weights
from revs.patch import model_fingerprint
from revs.targets import select_target_tokens
from revs.unlearn import unlearn
from revs.vocab import token_rank

# The module, not the function: revs/__init__.py rebinds the name revs.unlearn to the function.
unlearn_module = importlib.import_module("revs.unlearn")
ARCHS = sorted(TINY_CONFIGS)
# Bands inside the tiny vocabulary (256). The residual band's lower end is high, so every layer
# where the token ranks above 200 is eligible: the random models are edited for sure.
FORCE = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                   n_neurons=8, act_filter=16, initial_neurons=2)
TARGETS = [
    Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
    Record("b", "ssn", "Bob's number:", " 123-45-6789"),
]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _unchanged(model, before):
    return all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def _run(model, tokenizer, targets=TARGETS, config=FORCE):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every target here is edited: no "nothing" warning
        return unlearn(model, tokenizer, targets, config, progress=False)


def _output_rank(model, token):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([token.prefix_ids]), use_cache=False).logits
    return token_rank(logits[0, -1].float(), token.token_id).item()


@pytest.mark.parametrize("arch", ARCHS)
def test_only_the_edited_neurons_change_and_revert_is_exact(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    before = _snapshot(model)
    result = _run(model, byte_tokenizer)
    assert result.edits

    edited: dict[int, set[int]] = {}
    for edit in result.edits:
        edited.setdefault(edit.layer, set()).update(edit.neurons.tolist())
    out_proj = {n: layer for layer in edited for n, p in model.named_parameters()
                if p is layer_module(model, layer, "mlp_out").weight}
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(out_proj)
    for name, layer in out_proj.items():
        # Rows of the weight as it was ([d_mlp, d_model]; Linear stores it transposed).
        original = before[name] if get_layout(model).mlp_out_transposed else before[name].T
        rows = neuron_weights(model, layer)
        changed_rows = (rows != original).any(1).nonzero().flatten().tolist()
        assert set(changed_rows) == edited[layer]
    assert result.n_neurons == sum(len(v) for v in edited.values())
    assert result.neurons_per_layer() == {layer: len(edited[layer]) for layer in sorted(edited)}

    revert_edits_(model, result.edits)
    assert _unchanged(model, before)


@pytest.mark.parametrize("arch", ARCHS)
def test_token_reports(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    fingerprint = model_fingerprint(model)
    planned = [(i, t) for i, record in enumerate(TARGETS)
               for t in select_target_tokens(byte_tokenizer, record)]
    ranks_before = [_output_rank(model, t) for _, t in planned]

    result = _run(model, byte_tokenizer)

    assert [(r.target, r.position, r.token_id, r.text) for r in result.tokens] == [
        (i, t.position, t.token_id, t.text) for i, t in planned
    ]
    assert [r.rank_before for r in result.tokens] == ranks_before
    assert [r.rank_after for r in result.tokens] == [_output_rank(model, t) for _, t in planned]
    # Per token, the neurons per layer add up to the edits' sizes, in editing order.
    assert [n for r in result.tokens for n in r.neurons.values()] == [
        len(e.neurons) for e in result.edits
    ]
    assert [layer for r in result.tokens for layer in r.neurons] == [e.layer for e in result.edits]
    assert result.skipped == []
    assert result.patch.fingerprint == fingerprint and len(result.patch) == len(result.edits)
    assert result.n_layers == 3 and 0 < result.layers_run and result.forward_calls > 0


def test_unlearning_demotes_the_tokens(byte_tokenizer):
    model = build_tiny_model("qwen2")
    result = _run(model, byte_tokenizer)
    assert sum(r.rank_after for r in result.tokens) > sum(r.rank_before for r in result.tokens)


@pytest.mark.parametrize("targets, config, message", [
    ([TARGETS[0], Record("c", "ssn", "Carl:", "")], FORCE, "target 1: .*empty or whitespace"),
    ([TARGETS[0], Record("c", "ssn", "Carl:", "  ")], FORCE, "target 1: .*empty or whitespace"),
    ([TARGETS[0], Record("c", "ssn", "Carl:", " ---")], FORCE, "target 1: nothing to unlearn"),
    ([TARGETS[0], TARGETS[1], TARGETS[0]], FORCE, "target 0 and target 2 are the same"),
    (TARGETS, REVSConfig(), "reaches the vocabulary size 256"),
    ([], FORCE, "no targets"),
])
def test_bad_input_is_refused_before_any_edit(byte_tokenizer, targets, config, message):
    model = build_tiny_model("llama")
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        unlearn(model, byte_tokenizer, targets, config, progress=False)
    assert _unchanged(model, before)


def test_a_target_already_demoted_everywhere_warns_and_is_not_edited(byte_tokenizer):
    model = build_tiny_model("llama")
    before = _snapshot(model)
    config = dataclasses.replace(FORCE, residual_band=(0, 10))  # every layer is skipped
    with pytest.warns(UserWarning, match="nothing to unlearn for target 0"):
        result = unlearn(model, byte_tokenizer, TARGETS[:1], config, progress=False)
    assert result.edits == [] and result.skipped == [0]
    assert all(r.neurons == {} and r.rank_after == r.rank_before for r in result.tokens)
    assert _unchanged(model, before)


@pytest.mark.parametrize("arch", ARCHS)
def test_a_failure_midway_reverts_the_edits_already_made(arch, byte_tokenizer, monkeypatch):
    model = build_tiny_model(arch)
    before = _snapshot(model)
    real = unlearn_module.edit_layer
    results = []

    def failing(*args, **kwargs):
        if results and results[-1].edit is not None:
            raise RuntimeError("injected failure")
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(unlearn_module, "edit_layer", failing)
    with pytest.raises(RuntimeError, match="injected failure"):
        unlearn(model, byte_tokenizer, TARGETS, FORCE, progress=False)
    assert results[-1].edit is not None  # one edit was written before the failure ...
    assert _unchanged(model, before)  # ... and undone


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_low_precision_models(arch, dtype, byte_tokenizer):
    model = build_tiny_model(arch, dtype=dtype)
    before = _snapshot(model)
    result = _run(model, byte_tokenizer)
    assert result.edits
    assert all(e.original.dtype == dtype for e in result.edits)
    assert all(neuron_weights(model, layer).dtype == dtype for layer in range(3))
    revert_edits_(model, result.edits)
    assert _unchanged(model, before)


def test_layers_setting_limits_the_edited_layers(byte_tokenizer):
    model = build_tiny_model("llama")
    result = _run(model, byte_tokenizer, config=dataclasses.replace(FORCE, layers=(1,)))
    assert result.edits and {edit.layer for edit in result.edits} == {1}


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_contrastive_score_uses_the_other_secrets(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    before = _snapshot(model)
    config = dataclasses.replace(FORCE, score_method="contrastive", contrast_rank=255)
    result = _run(model, byte_tokenizer, config=config)
    assert result.edits
    revert_edits_(model, result.edits)
    assert _unchanged(model, before)
    with pytest.raises(ValueError, match="other secrets"):
        unlearn(model, byte_tokenizer, TARGETS[:1], config, progress=False)
    assert _unchanged(model, before)
    extra = [Record("c", "ssn", "Cy's number:", " 555-01-2222")]
    alone = unlearn(model, byte_tokenizer, TARGETS[:1], config, contrast=extra, progress=False)
    assert alone.tokens and all(t.target == 0 for t in alone.tokens)
