import pytest
import torch
from conftest import D_MODEL, N_LAYERS, TINY_CONFIGS, build_tiny_model
from transformers import AutoModelForCausalLM

from revs.edit import NeuronEdit, apply_edits_
from revs.forward import PrefixForward
from revs.hooks import SITES, capture
from revs.layout import decoder_layers, layer_module, neuron_weights


def _full_pass(model, ids):
    with torch.no_grad(), capture(model) as acts:
        model(input_ids=torch.tensor([ids]), use_cache=False)
    return acts


def _assert_same(got, want):
    for site in SITES:
        assert torch.equal(getattr(got, site), getattr(want, site)), site


def _ids(token_ids):
    return token_ids[0].tolist()


def _edit(model, layer, neurons=(2, 9, 40)):
    neurons = torch.tensor(neurons)
    delta = torch.randn(len(neurons), D_MODEL, generator=torch.Generator().manual_seed(layer))
    return NeuronEdit(layer, neurons, delta, neuron_weights(model, layer)[neurons].clone())


def _no_forward_attribute(model):
    return all("forward" not in layer.__dict__ for layer in decoder_layers(model))


def test_activations_equal_a_full_forward_pass(tiny, token_ids):
    _, model = tiny
    ids = _ids(token_ids)
    forward = PrefixForward(model, ids)
    want = _full_pass(model, ids)
    for layer in range(N_LAYERS):
        got = forward[layer]
        assert got.mlp_out.shape == (1, 1, D_MODEL)
        _assert_same(got, want[layer])
    assert forward.passes == 1 and forward.layers_run == N_LAYERS
    assert _no_forward_attribute(model)


@pytest.mark.parametrize("edited_layer", [1, 2])
def test_after_an_edit_only_the_layers_from_it_run_again(tiny, token_ids, edited_layer):
    name, _ = tiny
    model = build_tiny_model(name)
    ids = _ids(token_ids)
    forward = PrefixForward(model, ids)
    before = [forward[layer] for layer in range(N_LAYERS)]

    calls = {layer: 0 for layer in range(N_LAYERS)}
    for layer in range(N_LAYERS):
        layer_module(model, layer, "mlp").register_forward_hook(
            lambda *_, layer=layer: calls.__setitem__(layer, calls[layer] + 1)
        )
    apply_edits_(model, [_edit(model, edited_layer)])
    forward.invalidate(edited_layer)
    after = [forward[layer] for layer in range(N_LAYERS)]

    want = _full_pass(model, ids)  # a fresh full pass of the edited model
    for layer in range(N_LAYERS):
        _assert_same(after[layer], want[layer])
    # The edit is visible, and the layers below it were replayed, not computed.
    assert not torch.equal(after[edited_layer].mlp_out, before[edited_layer].mlp_out)
    assert all(after[layer] is before[layer] for layer in range(edited_layer))
    assert forward.passes == 2
    assert forward.layers_run == N_LAYERS + (N_LAYERS - edited_layer) < 2 * N_LAYERS
    full_pass_calls = {layer: 1 for layer in range(N_LAYERS)}  # _full_pass ran each layer once
    assert calls == {layer: full_pass_calls[layer] + (layer >= edited_layer)
                     for layer in range(N_LAYERS)}
    assert _no_forward_attribute(model)


def test_fresh_activations_are_not_recomputed(tiny, token_ids):
    _, model = tiny
    forward = PrefixForward(model, _ids(token_ids))
    first = forward[2]
    assert forward[0] is not None and forward[2] is first
    assert forward.passes == 1
    forward.invalidate(2)
    forward.invalidate(3)  # a higher layer does not lower what must run again
    forward[2]
    assert forward.passes == 2 and forward.layers_run == N_LAYERS + 1


def test_an_existing_forward_attribute_is_kept(token_ids):
    model = build_tiny_model("llama")
    layer0 = decoder_layers(model)[0]
    wrapper_calls = []
    original_forward = type(layer0).forward

    def wrapper(*args, **kwargs):  # as accelerate's device hooks wrap forward
        wrapper_calls.append(1)
        return original_forward(layer0, *args, **kwargs)

    layer0.forward = wrapper
    forward = PrefixForward(model, _ids(token_ids))
    forward[0]
    apply_edits_(model, [_edit(model, 2)])
    forward.invalidate(2)
    forward[2]  # replays layer 0 and 1
    assert layer0.__dict__["forward"] is wrapper
    assert len(wrapper_calls) == 1
    assert all("forward" not in layer.__dict__ for layer in decoder_layers(model)[1:])


def test_passes_stop_early_after_an_edit_and_still_match_a_full_pass(token_ids):
    config = TINY_CONFIGS["llama"]()
    config.num_hidden_layers = 8
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config).eval()
    ids = _ids(token_ids)
    forward = PrefixForward(model, ids)
    forward[0]
    assert forward.layers_run == 8  # the first pass runs every layer
    apply_edits_(model, [_edit(model, 1)])
    forward.invalidate(1)
    forward[1]
    assert (forward.passes, forward.layers_run, forward.fresh) == (2, 10, 3)  # layers 1-2 only
    forward[3]
    assert forward.layers_run == 14  # no edit in between: the next pass runs 4 layers
    got = [forward[layer] for layer in range(8)]
    assert forward.layers_run == 15
    want = _full_pass(model, ids)
    for layer in range(8):
        _assert_same(got[layer], want[layer])
