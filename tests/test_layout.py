import pytest
import torch
from conftest import D_MLP, D_MODEL, D_VOCAB, N_LAYERS, TINY_CONFIGS, build_tiny_model

from revs import LAYOUTS, UnsupportedModelError, get_layout, neuron_weights
from revs.layout import dimensions, layer_module


def test_every_layout_row_has_a_tiny_model():
    covered = {TINY_CONFIGS[name]().model_type for name in TINY_CONFIGS}
    assert set(LAYOUTS) <= covered, f"add tiny configs for {set(LAYOUTS) - covered}"


def test_unknown_architecture_names_type_and_fix():
    model = torch.nn.Linear(2, 2)
    model.config = type("Cfg", (), {"model_type": "mystery-net"})()
    with pytest.raises(
        UnsupportedModelError, match=r"'mystery-net'.*Add a ModelLayout row.*LAYOUTS"
    ):
        get_layout(model)


def test_dimensions(tiny):
    _, model = tiny
    assert dimensions(model) == {
        "n_layers": N_LAYERS,
        "d_model": D_MODEL,
        "d_mlp": D_MLP,
        "d_vocab": D_VOCAB,
    }


def test_neuron_weights_rows_are_neurons_and_a_view(tiny):
    """Row i of neuron_weights is neuron i: writing into it changes the parameter in place."""
    name, _ = tiny
    model = build_tiny_model(name)  # a private copy: this test writes
    neurons = neuron_weights(model, 1)
    assert neurons.shape == (D_MLP, D_MODEL)
    param = layer_module(model, 1, "mlp_out").weight
    before = param.detach().clone()
    neurons[5] += 1.0
    changed = (param.detach() != before).nonzero()
    axis = 0 if get_layout(model).mlp_out_transposed else 1
    assert set(changed[:, axis].tolist()) == {5}
    assert len(changed) == D_MODEL


def test_layer_index_out_of_range(tiny):
    _, model = tiny
    with pytest.raises(IndexError, match="out of range"):
        neuron_weights(model, N_LAYERS)
