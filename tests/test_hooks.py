import pytest
import torch
from conftest import D_MLP, D_MODEL, N_LAYERS
from torch.testing import assert_close

from revs import SITES, capture, neuron_weights
from revs.layout import layer_module


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("positions", ["last", "all"])
def test_residual_identity(tiny, token_ids, positions):
    """residual_after == residual_before + attention_out + mlp_out, sequential and parallel."""
    _, model = tiny
    with torch.no_grad(), capture(model, positions=positions) as acts:
        model(token_ids)
    for layer in range(N_LAYERS):
        a = acts[layer]
        pos = 1 if positions == "last" else token_ids.shape[1]
        assert a.residual_before.shape == (2, pos, D_MODEL)
        assert a.mlp_activations.shape == (2, pos, D_MLP)
        assert_close(a.residual_after, a.residual_before + a.attention_out + a.mlp_out)
    # Layer l's output is layer l+1's input.
    assert torch.equal(acts[0].residual_after, acts[1].residual_before)


def test_neuron_activations_times_neurons_give_mlp_out(tiny, token_ids):
    """The captured activations and neuron_weights' orientation reproduce the MLP output."""
    _, model = tiny
    with torch.no_grad(), capture(model, [1]) as acts:
        model(token_ids)
    out_proj = layer_module(model, 1, "mlp_out")
    bias = 0 if out_proj.bias is None else out_proj.bias
    expected = acts[1].mlp_activations @ neuron_weights(model, 1) + bias
    assert_close(expected, acts[1].mlp_out)


def test_one_token_prompt_keeps_its_axes(tiny):
    _, model = tiny
    with torch.no_grad(), capture(model, [0]) as acts:
        model(torch.tensor([[5]]))
    assert acts[0].residual_after.shape == (1, 1, D_MODEL)


def test_positions_tensor_selects_one_position_per_row(tiny, token_ids):
    _, model = tiny
    with torch.no_grad(), capture(model, [2], positions="all") as all_acts:
        model(token_ids)
    with torch.no_grad(), capture(model, [2], positions=torch.tensor([3, 6])) as acts:
        model(token_ids)
    got = acts.get(2, "mlp_out")
    assert got.shape == (2, 1, D_MODEL)
    assert torch.equal(got[0, 0], all_acts.get(2, "mlp_out")[0, 3])
    assert torch.equal(got[1, 0], all_acts.get(2, "mlp_out")[1, 6])


def test_hooks_removed_on_exit_and_on_error(tiny, token_ids):
    _, model = tiny
    before = _hook_count(model)
    with capture(model):
        assert _hook_count(model) == before + len(SITES) * N_LAYERS
    assert _hook_count(model) == before
    with pytest.raises(RuntimeError, match="boom"), capture(model):
        raise RuntimeError("boom")
    assert _hook_count(model) == before


def test_stop_after_ends_the_forward_pass(tiny, token_ids):
    _, model = tiny
    result = "not run"
    with torch.no_grad(), capture(model, [0, 2], stop_after=0) as acts:
        result = model(token_ids)
    assert result == "not run"  # the model never returned
    assert 0 in acts and 2 not in acts
    with pytest.raises(KeyError, match="stopped"):
        acts[2]


def test_subset_of_sites(tiny, token_ids):
    _, model = tiny
    with torch.no_grad(), capture(model, [1], sites=["mlp_activations"]) as acts:
        model(token_ids)
    assert acts.get(1, "mlp_activations").shape == (2, 1, D_MLP)
    with pytest.raises(KeyError, match="residual_after"):
        acts.get(1, "residual_after")


def test_bad_arguments(tiny):
    _, model = tiny
    with pytest.raises(ValueError, match="unknown sites"), capture(model, sites=["mlp_in"]):
        pass
    with pytest.raises(IndexError, match="out of range"), capture(model, [N_LAYERS]):
        pass
