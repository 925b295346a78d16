import dataclasses

import pytest
import torch
from conftest import D_MLP, build_tiny_model

from revs.config import REVSConfig
from revs.hooks import capture
from revs.layout import neuron_weights
from revs.select import layer_skip_reason, select_neurons
from revs.vocab import project_to_vocab, token_rank, vocab_projection

CONFIG = REVSConfig(residual_band=(20, 120), mlp_band=(20, 200), neuron_band=(150, 230),
                    n_neurons=8, act_filter=16, initial_neurons=2)
LAYER, TOKEN = 1, 131


@pytest.mark.parametrize("residual_rank, mlp_rank, reason", [
    (20, 0, "residual"),  # residual at the band's lower end: already demoted enough
    (250, 0, "residual"),
    (20, 250, "residual"),  # the residual rule is checked first
    (19, 200, "mlp"),  # MLP at the band's upper end: it does not promote the token
    (19, 255, "mlp"),
    (19, 199, None),
    (0, 0, None),
])
def test_layer_skip_reason(residual_rank, mlp_rank, reason):
    assert layer_skip_reason(residual_rank, mlp_rank, CONFIG) == reason


def _layer_inputs(model, token_ids):
    """Activations at the last position of the first prompt, and the layer's neuron rows."""
    with torch.no_grad(), capture(model, [LAYER], sites=("mlp_activations",)) as acts:
        model(token_ids[:1])
    return acts.get(LAYER, "mlp_activations")[0, -1], neuron_weights(model, LAYER)


def _select(model, acts, rows, config=CONFIG, **kwargs):
    return select_neurons(acts, rows, vocab_projection(model), TOKEN, config, **kwargs)


def test_rank_score_keeps_the_best_ranked_of_the_most_activated(tiny, token_ids):
    _, model = tiny
    acts, rows = _layer_inputs(model, token_ids)
    selection = _select(model, acts, rows)

    candidates = set(torch.topk(acts, CONFIG.act_filter).indices.tolist())
    chosen = selection.neurons.tolist()
    assert selection.neurons.ndim == 1 and len(chosen) == CONFIG.n_neurons
    assert len(set(chosen)) == len(chosen) and set(chosen) <= candidates
    # Ranks computed independently from the neuron rows' own logit lens.
    ranks = token_rank(project_to_vocab(model, rows), TOKEN)  # [d_mlp]
    assert torch.equal(selection.token_ranks, ranks[selection.neurons])
    assert (selection.token_ranks[1:] >= selection.token_ranks[:-1]).all()
    # No candidate left out ranks the token better than a chosen one.
    left_out = [ranks[i].item() for i in candidates - set(chosen)]
    assert min(left_out) >= selection.token_ranks.max().item()


def test_activation_score_orders_by_decreasing_activation(tiny, token_ids):
    _, model = tiny
    acts, rows = _layer_inputs(model, token_ids)
    config = dataclasses.replace(CONFIG, score_method="activation")
    selection = _select(model, acts, rows, config)
    chosen = acts[selection.neurons]
    assert (chosen[1:] <= chosen[:-1]).all()
    assert set(selection.neurons.tolist()) == set(
        torch.topk(acts, CONFIG.n_neurons).indices.tolist()
    )


def test_random_score_is_deterministic_per_seed(tiny, token_ids):
    _, model = tiny
    acts, rows = _layer_inputs(model, token_ids)
    config = dataclasses.replace(CONFIG, score_method="random")
    first = _select(model, acts, rows, config).neurons
    again = _select(model, acts, rows, config).neurons
    other = _select(model, acts, rows, dataclasses.replace(config, seed=1)).neurons
    assert len(first) == CONFIG.n_neurons and first.unique().numel() == CONFIG.n_neurons
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_positive_filter_with_a_single_positive_activation():
    model = build_tiny_model("llama")
    acts = -torch.ones(D_MLP)
    acts[5] = 2.0
    config = dataclasses.replace(CONFIG, act_filter="positive")
    selection = _select(model, acts, neuron_weights(model, LAYER), config)
    assert selection.neurons.shape == (1,)
    assert selection.neurons.tolist() == [5]
    assert selection.token_ranks.shape == (1,)


def test_positive_filter_without_positive_activation_selects_nothing():
    model = build_tiny_model("llama")
    config = dataclasses.replace(CONFIG, act_filter="positive")
    selection = _select(model, -torch.ones(D_MLP), neuron_weights(model, LAYER), config)
    assert selection.neurons.numel() == 0


def test_contrastive_needs_contrast_activations():
    model = build_tiny_model("llama")
    rows = neuron_weights(model, LAYER)
    config = dataclasses.replace(CONFIG, score_method="contrastive")
    acts = torch.randn(D_MLP, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="contrast"):
        _select(model, acts, rows, config)
    with pytest.raises(ValueError, match="contrast"):
        _select(model, acts, rows, config, contrast_activations=torch.zeros(0, D_MLP))


def test_contrastive_prefers_a_neuron_silent_on_the_contrast_prompts():
    model = build_tiny_model("llama")
    rows = neuron_weights(model, LAYER)
    config = dataclasses.replace(CONFIG, score_method="contrastive")
    acts = torch.zeros(D_MLP)
    acts[[3, 4]] = 3.0  # equally active on the prompt ...
    acts[10:30] = 1.0
    contrast = torch.zeros(2, D_MLP)
    contrast[:, 3] = 3.0  # ... but neuron 3 fires just as much on the other prompts
    selection = _select(model, acts, rows, config, contrast_activations=contrast)
    order = selection.neurons.tolist()
    assert order[0] == 4
    assert 3 not in order[:1] and (3 not in order or order.index(3) > order.index(4))


def test_contrastive_puts_neurons_not_promoting_the_token_last():
    model = build_tiny_model("llama")
    rows = neuron_weights(model, LAYER)
    ranks = token_rank(project_to_vocab(model, rows), TOKEN)
    threshold = int(ranks.median())
    promoting = (ranks < threshold).nonzero().flatten()[:4].tolist()
    not_promoting = (ranks >= threshold).nonzero().flatten()[:4].tolist()
    acts = torch.full((D_MLP,), -1.0)
    acts[promoting] = 1.0
    acts[not_promoting] = 5.0  # larger margin, but the projection ranks the token low
    # The 8 candidates are exactly these neurons.
    config = dataclasses.replace(CONFIG, score_method="contrastive", contrast_rank=threshold,
                                 act_filter=8)
    selection = _select(model, acts, rows, config, contrast_activations=torch.zeros(1, D_MLP))
    assert set(selection.neurons[:4].tolist()) == set(promoting)
    assert set(selection.neurons[4:].tolist()) == set(not_promoting)
