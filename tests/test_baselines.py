"""MEMIT, Max-Entropy, Head-Projection, NPO-KL and RMU on tiny models of every layout: each lowers
its own loss, moves only the parameters it should, leaves the model untouched on bad input, and
runs through the evaluation runner. (FT-L has its own file.)"""

import dataclasses
import json
import warnings

import pytest
import torch
from conftest import TINY_CONFIGS, ByteTokenizer, build_tiny_model

from revs.data.records import Record
from revs.experiments.runner import EvalSettings, evaluate_run
from revs.hooks import capture
from revs.layout import layer_module
from revs.methods import forget_requests, get_method
from revs.methods.ft_l import FTLConfig
from revs.methods.memit import MEMITConfig, _LastTokens, spread_outputs
from revs.methods.npo import NPOConfig, npo_loss
from revs.methods.rmu import RMUConfig
from revs.methods.second_moments import key_second_moments
from revs.methods.training import retain_token_ids
from revs.vocab import token_rank, vocab_projection

RECORDS = [Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
           Record("b", "ssn", "Bob's number:", " 123-45-6789")]
TOKENIZER = ByteTokenizer()
_MEMIT = dict(layers=(0, 1), mom2_tokens=400, templates=2, v_steps=8, mom2_weight=1.0,
              clamp_norm_factor=4.0)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REVS_CACHE_DIR", str(tmp_path))


def _lens(model, layers):
    """Logit lens at each request's prefix end, ``[requests, layers, d_vocab]``, and the ids."""
    requests = forget_requests(TOKENIZER, RECORDS)
    rows = []
    with torch.no_grad():
        for r in requests:
            with capture(model, layers, sites=("residual_after",)) as acts:
                model(input_ids=torch.tensor([r.prefix_ids]))
            rows.append(torch.stack([acts.get(layer, "residual_after")[0, 0] for layer in layers]))
    return vocab_projection(model, refresh=True).project(torch.stack(rows)), [
        r.token_id for r in requests]


def _changed(model, before):
    return {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}


def _owned(model, layers, part="mlp_out", weight_only=False):
    ids = {id(p) for layer in layers
           for p in layer_module(model, layer, part).parameters(recurse=False)
           if not weight_only or p is layer_module(model, layer, part).weight}
    return {name for name, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_last_token_runner_matches_a_full_forward(arch):
    model = build_tiny_model(arch)
    heads = [[5, 6, 7, 8, 9], [10, 11], []]
    tails = [[20, 21], [22, 23], [24, 25]]
    runner = _LastTokens(model, heads, tails, pad_id=0)
    with torch.no_grad():
        got = runner()
        again = runner()  # the cache is copied, never grown
        for row, (head, tail) in enumerate(zip(heads, tails, strict=True)):
            full = model(input_ids=torch.tensor([head + tail])).logits[0, -1]
            torch.testing.assert_close(got[row], full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got, again)


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_memit_deletes_and_edits_only_the_output_projection_weights(arch):
    model = build_tiny_model(arch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    lens_before, ids = _lens(model, [2])
    run = get_method("memit")(model, TOKENIZER, RECORDS, config=MEMITConfig(**_MEMIT,
                                                                          loss_break=0))
    lens_after, _ = _lens(model, [2])
    p_before = torch.softmax(lens_before[:, 0], -1)[range(len(ids)), ids]
    p_after = torch.softmax(lens_after[:, 0], -1)[range(len(ids)), ids]
    assert p_after.mean() < p_before.mean()
    assert _changed(model, before) == _owned(model, (0, 1), weight_only=True)
    assert all(p.requires_grad for p in model.parameters())
    assert run.details["requests"] == 4 and run.details["mean_steps"] > 0


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_head_projection_pushes_the_target_down_the_logit_lens(arch):
    model = build_tiny_model(arch)
    lens_before, ids = _lens(model, [1, 2])
    config = MEMITConfig(**_MEMIT, objective="head-projection", defense_k=5)
    get_method("head-projection")(model, TOKENIZER, RECORDS, config=config)
    lens_after, _ = _lens(model, [1, 2])
    ranks = [token_rank(lens[:, layer], torch.tensor(ids)).float().mean()
             for lens in (lens_before, lens_after) for layer in (0, 1)]
    assert ranks[2] + ranks[3] > ranks[0] + ranks[1]


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_max_entropy_flattens_the_logit_lens(arch):
    model = build_tiny_model(arch)

    def entropy(lens):
        log_p = torch.log_softmax(lens, -1)
        return -(log_p.exp() * log_p).sum(-1).mean()

    before = entropy(_lens(model, [1, 2])[0])
    get_method("max-entropy")(model, TOKENIZER, RECORDS,
                              config=MEMITConfig(**_MEMIT, objective="max-entropy"))
    assert entropy(_lens(model, [1, 2])[0]) > before


def test_memit_spread_writes_the_wanted_outputs():
    """With λ tiny and one layer, the least-squares edit reaches the target outputs exactly."""
    model = build_tiny_model("llama")
    requests = forget_requests(TOKENIZER, RECORDS)
    config = MEMITConfig(layers=(1,), mom2_weight=1e-6)
    moments = {1: torch.eye(128)}
    with torch.no_grad():
        current = []
        for r in requests:
            with capture(model, [1], sites=("residual_after",)) as acts:
                model(input_ids=torch.tensor([r.prefix_ids]))
            current.append(acts.get(1, "residual_after")[0, 0])
        targets = torch.stack(current) + torch.randn(len(requests), 64,
                                                     generator=torch.Generator().manual_seed(0))
    spread_outputs(model, TOKENIZER, requests, targets, config, moments)
    with torch.no_grad():
        for r, target in zip(requests, targets, strict=True):
            with capture(model, [1], sites=("residual_after",)) as acts:
                model(input_ids=torch.tensor([r.prefix_ids]))
            torch.testing.assert_close(acts.get(1, "residual_after")[0, 0], target, atol=2e-3,
                                       rtol=1e-3)


def test_second_moments_are_the_mean_outer_product_and_cached():
    model = build_tiny_model("gpt2")
    moments = key_second_moments(model, TOKENIZER, [1], n_tokens=100)
    assert torch.allclose(moments[1], moments[1].T)
    assert torch.linalg.eigvalsh(moments[1]).min() > -1e-5
    again = key_second_moments(model, TOKENIZER, [1], n_tokens=100)  # from the disk cache
    torch.testing.assert_close(moments[1], again[1])
    ids = sum(retain_token_ids(TOKENIZER, 50, 64, min_tokens=2), [])  # noqa: RUF017
    assert len(ids) > 0


def test_npo_loss_values():
    nll = torch.tensor([0.0, 1.0, 5.0])
    loss = npo_loss(nll, torch.zeros(3), beta=2.0)
    torch.testing.assert_close(loss[0], torch.log(torch.tensor(2.0)))  # (2/β) log 2
    assert loss[0] > loss[1] > loss[2] > 0


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_npo_raises_the_target_loss_and_keeps_retain_text_close(arch):
    model = build_tiny_model(arch)
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    lens_before, ids = _lens(model, [2])
    run = get_method("npo-kl")(model, TOKENIZER, RECORDS,
                               config=NPOConfig(lr=3e-3, epochs=3, retain_tokens=32))
    lens_after, _ = _lens(model, [2])
    nll = [-torch.log_softmax(lens[:, 0], -1)[range(len(ids)), ids].mean()
           for lens in (lens_before, lens_after)]
    assert nll[1] > nll[0]
    history = run.details["history"]
    assert history[-1]["npo"] < history[0]["npo"]
    assert all(p.requires_grad == grads[n] for n, p in model.named_parameters())


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_rmu_steers_forget_activations_and_trains_only_its_layers(arch):
    model = build_tiny_model(arch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = get_method("rmu")(model, TOKENIZER, RECORDS, config=RMUConfig(
        layers=(0, 1), loss_layer=1, lr=1e-2, epochs=4, alpha=1.0, retain_tokens=32))
    history = run.details["history"]
    assert history[-1]["forget"] < history[0]["forget"]
    assert _changed(model, before) == _owned(model, (0, 1), weight_only=True)


@pytest.mark.parametrize("name, config, message", [
    ("memit", MEMITConfig(layers=(0, 7)), "layers must be increasing"),
    ("memit", MEMITConfig(layers=(1, 0)), "layers must be increasing"),
    ("memit", MEMITConfig(objective="forget"), "unknown MEMIT objective"),
    ("memit", MEMITConfig(objective="max-entropy"), "optimizes the 'delete' objective"),
    ("head-projection",
     MEMITConfig(objective="head-projection", layers=(0, 1), defense_layers=(0,)),
     "defense_layers"),
    ("memit", NPOConfig(), "MEMITConfig"),
    ("npo-kl", NPOConfig(lr=0), "lr > 0"),
    ("rmu", RMUConfig(layers=(0, 2), loss_layer=1), "layers <= loss_layer"),
    ("rmu", RMUConfig(layers=(0,), loss_layer=0, steering=0), "steering > 0"),
])
def test_bad_settings_leave_the_model_untouched(name, config, message):
    model = build_tiny_model("llama")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises((ValueError, TypeError), match=message):
        get_method(name)(model, TOKENIZER, RECORDS, config=config)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("name, config", [
    ("ft-l", FTLConfig()),
    ("memit", MEMITConfig(**_MEMIT)),
    ("head-projection", MEMITConfig(**_MEMIT, objective="head-projection", defense_k=5)),
    ("max-entropy", MEMITConfig(**_MEMIT, objective="max-entropy")),
    ("npo-kl", NPOConfig(retain_tokens=32)),
    ("rmu", RMUConfig(layers=(0,), loss_layer=1, retain_tokens=32)),
])
def test_each_baseline_runs_through_the_evaluation_runner(name, config):
    records = [Record(f"s{i}", "ssn", f"{p} {n} is", f" {i}{i + 1}-{i + 2}")
               for i, n in enumerate(["Ann", "Bob", "Cyd", "Dee"])
               for p in ("The number of", "The code of")]
    settings = EvalSettings(ks=(5,), n_forget=2, corpus_documents=1, max_new_tokens=4, samples=2,
                            delta_candidates=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = evaluate_run(name, records, 0,
                               lambda: (build_tiny_model("llama"), ByteTokenizer()),
                               dataset="toy", config=config, settings=settings)
    assert {r["method"] for r in results.rows} == {name}
    assert {r["metric"] for r in results.rows} >= {"efficacy", "specificity", "perplexity",
                                                   "extraction_rate", "resistance_score"}
    assert results.runs[0]["details"]["requests"] == 4
    assert results.runs[0]["config"] == json.loads(json.dumps(dataclasses.asdict(config)))
