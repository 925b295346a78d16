"""FT-L on tiny models of every layout: the loss falls, only the chosen projections move, the
L-infinity constraint holds (the runner round trip is in test_baselines.py)."""

import pytest
import torch
from conftest import TINY_CONFIGS, build_tiny_model

from revs.data.records import Record
from revs.layout import layer_module
from revs.methods import forget_requests, get_method
from revs.methods.ft_l import FTLConfig

RECORDS = [Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
           Record("b", "ssn", "Bob's number:", " 123-45-6789")]


def _mean_probability(model, tokenizer, records):
    probabilities = []
    with torch.no_grad():
        for request in forget_requests(tokenizer, records):
            logits = model(input_ids=torch.tensor([request.prefix_ids])).logits[0, -1]
            probabilities.append(torch.softmax(logits.float(), -1)[request.token_id].item())
    return sum(probabilities) / len(probabilities)


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_ft_l_lowers_the_targets_within_the_constraint(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    config = FTLConfig(layers=(1,), lr=1e-2, epochs=3, norm_constraint=0.05, loss_break=0.0)
    p_before = _mean_probability(model, byte_tokenizer, RECORDS)
    run = get_method("ft-l")(model, byte_tokenizer, RECORDS, config=config)
    assert _mean_probability(model, byte_tokenizer, RECORDS) < p_before
    projection = set(map(id, layer_module(model, 1, "mlp_out").parameters()))
    trained = {name for name, p in model.named_parameters() if id(p) in projection}
    assert trained
    for name, p in model.named_parameters():
        change = (p.detach() - before[name]).abs().max().item()
        if name in trained:
            assert 0 < change <= 0.05 + 1e-7, name
        else:
            assert change == 0, name
        assert p.requires_grad == grads[name]
    assert run.details["epochs"] == 3 and run.details["requests"] == 4 and run.seconds > 0


def test_ft_l_stops_once_the_targets_are_improbable(byte_tokenizer):
    model = build_tiny_model("llama")
    run = get_method("ft-l")(model, byte_tokenizer, RECORDS,
                             config=FTLConfig(epochs=4, loss_break=1.0))  # every target < 1
    assert run.details["epochs"] == 1
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(),
                                                 build_tiny_model("llama").parameters(),
                                                 strict=True))


def test_ft_l_bad_settings_leave_the_model_untouched(byte_tokenizer):
    model = build_tiny_model("llama")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="layers must be within"):
        get_method("ft-l")(model, byte_tokenizer, RECORDS, config=FTLConfig(layers=(7,)))
    with pytest.raises(ValueError, match="lr > 0"):
        get_method("ft-l")(model, byte_tokenizer, RECORDS, config=FTLConfig(norm_constraint=0))
    with pytest.raises(TypeError, match="FTLConfig"):
        get_method("ft-l")(model, byte_tokenizer, RECORDS, config={"lr": 1})
    with pytest.raises(ValueError, match="no records"):
        get_method("ft-l")(model, byte_tokenizer, [])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())

