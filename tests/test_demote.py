import dataclasses

import pytest
import torch
from conftest import D_VOCAB, build_tiny_model

from revs.config import REVSConfig
from revs.demote import demote_rank
from revs.layout import neuron_weights
from revs.vocab import project_to_vocab, token_rank, vocab_projection

CONFIG = REVSConfig(neuron_band=(150, 200), residual_band=(10, 100), mlp_band=(10, 200))


def _promoting_neurons(model, target, n=12):
    """The neurons whose projection ranks ``target`` best (they need demoting)."""
    rows = neuron_weights(model, 1)
    order = token_rank(project_to_vocab(model, rows), target).argsort()
    return rows[order[:n]].clone()


@pytest.mark.parametrize("target", [7, 131])
def test_demoted_neurons_rank_the_target_inside_the_band(tiny, target):
    _, model = tiny
    x = _promoting_neurons(model, target)
    result = demote_rank(vocab_projection(model), x, target, CONFIG)
    assert result.in_band.all(), (result.rank_before, result.rank_after)
    # The reported ranks are those of the edited vectors themselves.
    assert torch.equal(token_rank(project_to_vocab(model, x + result.delta), target),
                       result.rank_after)
    low, high = CONFIG.neuron_band
    edited = result.logit_step.ne(0)
    assert edited.any()
    assert ((result.rank_after[edited] >= low) & (result.rank_after[edited] <= high)).all()


def test_neurons_already_past_the_band_are_untouched():
    model = build_tiny_model("llama")
    rows = neuron_weights(model, 1)
    target = 7
    ranks = token_rank(project_to_vocab(model, rows), target)
    x = rows[ranks >= CONFIG.neuron_band[0]][:5].clone()
    result = demote_rank(vocab_projection(model), x, target, CONFIG)
    assert torch.equal(result.delta, torch.zeros_like(x))
    assert result.logit_step.eq(0).all() and result.iterations == 1


def test_fast_rank_path_agrees_with_projecting_again():
    """RMSNorm without bias: ranks from the closed form == ranks of the re-projected vectors."""
    model = build_tiny_model("qwen2")
    projection = vocab_projection(model)
    x = _promoting_neurons(model, 42)
    fast = demote_rank(projection, x, 42, CONFIG)
    slow = demote_rank(projection, x, 42, CONFIG, closed_form=False)
    assert torch.equal(fast.rank_after, slow.rank_after)
    torch.testing.assert_close(fast.delta, slow.delta)


def test_neurons_are_not_modified_and_band_is_validated():
    model = build_tiny_model("gpt2")
    x = _promoting_neurons(model, 3)
    before = x.clone()
    demote_rank(vocab_projection(model), x, 3, CONFIG)
    assert torch.equal(x, before)
    with pytest.raises(ValueError, match="reaches the vocabulary size"):
        demote_rank(vocab_projection(model), x, 3,
                    dataclasses.replace(CONFIG, neuron_band=(100, D_VOCAB)))


@pytest.mark.parametrize("layout", ["llama", "gpt2"])
def test_demotion_with_protected_tokens_still_lands_in_the_band(layout):
    model = build_tiny_model(layout)
    x = _promoting_neurons(model, 7)
    config = dataclasses.replace(CONFIG, protect_tokens=4)
    result = demote_rank(vocab_projection(model), x, 7, config)
    assert result.in_band.all() and result.logit_step.ne(0).any()
    assert not torch.equal(result.delta, demote_rank(vocab_projection(model), x, 7, CONFIG).delta)
