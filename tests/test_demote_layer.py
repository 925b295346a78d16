import pytest
import torch
from conftest import N_LAYERS

from revs.config import REVSConfig
from revs.demote import neuron_count_search
from revs.edit import NeuronEdit, applied
from revs.hooks import capture
from revs.layer_step import demote_in_layer
from revs.layout import neuron_weights
from revs.select import select_neurons
from revs.vocab import project_to_vocab, token_rank, vocab_projection

# Every layer is eligible and the MLP band reaches almost to the vocabulary's end, so the count
# search has room to move.
CONFIG = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                    n_neurons=8, act_filter=16, initial_neurons=2)


def _last_position(model, ids, layer):
    with torch.no_grad(), capture(model, [layer]) as acts:
        model(input_ids=ids, use_cache=False)
    return acts[layer]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _ranks_after_editing(model, ids, layer, candidates, delta, token_id):
    """(MLP, residual) ranks of the token after editing ``candidates`` by ``delta``, from a real
    forward pass of the edited model."""
    edit = NeuronEdit(layer, candidates, delta, neuron_weights(model, layer)[candidates].clone())
    with applied(model, [edit]):
        acts = _last_position(model, ids, layer)
    vectors = torch.cat([acts.mlp_out[0], acts.residual_after[0]])  # [2, d_model]
    mlp_rank, residual_rank = token_rank(project_to_vocab(model, vectors), token_id).tolist()
    return mlp_rank, residual_rank


@pytest.mark.parametrize("layer", range(N_LAYERS))
def test_demote_in_layer(tiny, token_ids, layer):
    _, model = tiny
    ids = token_ids[:1]
    acts = _last_position(model, ids, layer)
    mlp_out, residual = acts.mlp_out[0, -1], acts.residual_after[0, -1]
    u = acts.mlp_activations[0, -1]
    token_id = int(project_to_vocab(model, mlp_out).argmax())  # the token this MLP promotes most
    rows = neuron_weights(model, layer)
    projection = vocab_projection(model)
    candidates = select_neurons(u, rows, projection, token_id, CONFIG).neurons
    before = _snapshot(model)

    result = demote_in_layer(projection, layer=layer, neuron_rows=rows, candidates=candidates,
                             activations=u, mlp_out=mlp_out, residual=residual,
                             token_id=token_id, config=CONFIG)

    # Computing the edit does not touch the model.
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    edit = result.edit
    assert edit is not None and edit.layer == layer
    kept = candidates[: result.counts[-1]].tolist()
    assert set(edit.neurons.tolist()) <= set(kept)
    assert torch.equal(edit.original, rows[edit.neurons])
    # Every edited neuron now ranks the token inside the neuron band.
    ranks = token_rank(project_to_vocab(model, edit.original + edit.delta), token_id)
    low, high = CONFIG.neuron_band
    assert ((ranks >= low) & (ranks <= high)).all(), ranks
    # Neurons left out of the edit among the kept ones already ranked the token past the band.
    skipped = sorted(set(kept) - set(edit.neurons.tolist()))
    if skipped:
        assert (token_rank(project_to_vocab(model, rows[skipped]), token_id) >= low).all()

    # The counts follow the search, evaluated here with real forward passes of edited models.
    delta = result.demotion.delta
    assert torch.equal(delta[result.demotion.logit_step.eq(0)],
                       torch.zeros_like(delta[result.demotion.logit_step.eq(0)]))

    def evaluate(count):
        return _ranks_after_editing(model, ids, layer, candidates[:count], delta[:count],
                                    token_id)

    assert result.counts == neuron_count_search(evaluate, len(candidates), CONFIG)
    assert result.mlp_rank[0] == token_rank(project_to_vocab(model, mlp_out), token_id).item()
    assert (result.mlp_rank[1], result.residual_rank[1]) == evaluate(result.counts[-1])
    # The MLP promotes the token no more than before (GPT-2's output bias can keep it top-1).
    assert result.mlp_rank[1] >= result.mlp_rank[0]
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_no_edit_when_every_candidate_is_already_past_the_band(tiny, token_ids):
    _, model = tiny
    layer = 1
    acts = _last_position(model, token_ids[:1], layer)
    rows = neuron_weights(model, layer)
    token_id = 5
    ranks = token_rank(project_to_vocab(model, rows), token_id)
    candidates = (ranks >= CONFIG.neuron_band[0]).nonzero().flatten()[:CONFIG.n_neurons]
    assert len(candidates) > 0
    result = demote_in_layer(vocab_projection(model), layer=layer, neuron_rows=rows,
                             candidates=candidates, activations=acts.mlp_activations[0, -1],
                             mlp_out=acts.mlp_out[0, -1], residual=acts.residual_after[0, -1],
                             token_id=token_id, config=CONFIG)
    assert result.edit is None
    assert result.mlp_rank[0] == result.mlp_rank[1]
    assert result.residual_rank[0] == result.residual_rank[1]
