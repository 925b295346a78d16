import pytest
import torch
from conftest import D_MLP, D_MODEL, build_tiny_model

from revs.edit import NeuronEdit, applied, apply_edits_, revert_edits_
from revs.layout import layer_module, neuron_weights


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _make_edit(model, layer, neurons, scale=0.5, seed=0):
    neurons = torch.tensor(neurons)
    g = torch.Generator().manual_seed(seed)
    original = neuron_weights(model, layer)[neurons].clone()
    return NeuronEdit(layer, neurons, scale * torch.randn(len(neurons), D_MODEL, generator=g),
                      original)


def test_only_the_selected_neurons_change_and_revert_is_exact(tiny):
    name, _ = tiny
    model = build_tiny_model(name)
    before = _snapshot(model)
    edit = _make_edit(model, 1, [3, 17, 100])
    apply_edits_(model, [edit])
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    out_proj = next(n for n, p in model.named_parameters()
                    if p is layer_module(model, 1, "mlp_out").weight)
    assert changed == {out_proj}
    rows = neuron_weights(model, 1)
    assert torch.equal(rows[[3, 17, 100]], edit.edited)
    untouched = [i for i in range(D_MLP) if i not in (3, 17, 100)]
    assert torch.equal(rows[untouched], neuron_weights(build_tiny_model(name), 1)[untouched])
    revert_edits_(model, [edit])
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_a_neuron_edited_twice_comes_back_exactly():
    model = build_tiny_model("llama")
    before = _snapshot(model)
    first = _make_edit(model, 0, [5, 6])
    apply_edits_(model, [first])
    second = _make_edit(model, 0, [6, 7], seed=1)  # computed on the edited model
    apply_edits_(model, [second])
    revert_edits_(model, [first, second])
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_applied_restores_also_on_error():
    model = build_tiny_model("gpt2")
    before = _snapshot(model)
    edit = _make_edit(model, 2, [0, 1])
    with pytest.raises(RuntimeError, match="inside"), applied(model, [edit]):
        assert torch.equal(neuron_weights(model, 2)[[0, 1]], edit.edited)
        raise RuntimeError("inside")
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_applying_twice_is_refused_and_changes_nothing():
    model = build_tiny_model("llama")
    edit = _make_edit(model, 1, [2])
    apply_edits_(model, [edit])
    state = _snapshot(model)
    with pytest.raises(ValueError, match="already applied"):
        apply_edits_(model, [edit])
    assert all(torch.equal(p, state[n]) for n, p in model.named_parameters())


def test_a_failing_edit_in_a_list_rolls_back_the_ones_before():
    model = build_tiny_model("llama")
    before = _snapshot(model)
    good = _make_edit(model, 0, [1])
    stale = NeuronEdit(1, torch.tensor([4]), torch.zeros(1, D_MODEL), torch.zeros(1, D_MODEL))
    with pytest.raises(ValueError, match="does not match"):
        apply_edits_(model, [good, stale])
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer=9), "outside the model"),
    (dict(neurons=torch.tensor([D_MLP])), "outside"),
    (dict(neurons=torch.tensor([3, 3])), "repeat"),
    (dict(delta=torch.full((2, D_MODEL), float("nan"))), "non-finite"),
    (dict(delta=torch.zeros(2, D_MODEL + 1)), "must be"),
])
def test_bad_edits_are_refused_before_anything_is_written(kwargs, message):
    model = build_tiny_model("gptj")
    before = _snapshot(model)
    fields = dict(layer=1, neurons=torch.tensor([3, 4]), delta=torch.zeros(2, D_MODEL),
                  original=neuron_weights(model, 1)[[3, 4]].clone())
    fields.update(kwargs)
    n = fields["neurons"].shape[0]
    if fields["original"].shape[0] != n:
        fields["original"] = torch.zeros(n, D_MODEL)
    if "delta" not in kwargs:
        fields["delta"] = torch.zeros(n, D_MODEL)
    with pytest.raises(ValueError, match=message):
        apply_edits_(model, [_make_edit(model, 0, [1]), NeuronEdit(**fields)])
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_low_precision_model_reverts_exactly():
    model = build_tiny_model("llama", dtype=torch.bfloat16)
    before = _snapshot(model)
    edit = _make_edit(model, 1, [9, 10])
    with applied(model, [edit]):
        assert neuron_weights(model, 1).dtype == torch.bfloat16
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
