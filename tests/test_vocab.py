import pytest
import torch
from conftest import D_MODEL, D_VOCAB, N_LAYERS, build_tiny_model
from torch.testing import assert_close

from revs import (
    capture,
    neuron_weights,
    project_back,
    project_to_vocab,
    token_rank,
    vocab_projection,
)
from revs.layout import final_norm


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_logit_lens_of_last_residual_is_the_models_logits(tiny, token_ids):
    """Golden check: final norm + unembedding of the last layer's output == the model's logits."""
    _, model = tiny
    with torch.no_grad(), capture(model, [N_LAYERS - 1], positions="all") as acts:
        logits = model(token_ids).logits
    projected = project_to_vocab(model, acts[N_LAYERS - 1].residual_after)
    assert projected.shape == (2, token_ids.shape[1], D_VOCAB)
    assert_close(projected, logits, rtol=1e-5, atol=1e-5)


def test_round_trip_residuals_and_neurons(tiny, token_ids):
    """project_back(project_to_vocab(v), v) == v for residual states and neuron columns."""
    _, model = tiny
    with torch.no_grad(), capture(model, [1]) as acts:
        model(token_ids)
    for vectors in (acts[1].residual_after, acts[1].mlp_out, neuron_weights(model, 1)):
        back = project_back(model, project_to_vocab(model, vectors), vectors)
        assert back.shape == vectors.shape
        assert_close(back, vectors, rtol=1e-4, atol=1e-4)


def test_round_trip_with_a_shifted_mean(tiny):
    """The exact inverse holds far from zero mean (the official RMSNorm inverse did not)."""
    _, model = tiny
    v = torch.randn(4, D_MODEL, generator=torch.Generator().manual_seed(1)) + 0.3
    assert_close(project_back(model, project_to_vocab(model, v), v), v, rtol=1e-4, atol=1e-4)


def test_norm_kinds_are_covered():
    assert final_norm(build_tiny_model("llama")).kind == "rms"
    assert final_norm(build_tiny_model("gpt2")).kind == "layer"


def test_editing_one_logit_moves_along_the_pinv_column(tiny):
    """Spec §1.3 closed form: lowering logit t by 10 == moving N(x) by -10 * pinv[:, t]."""
    _, model = tiny
    proj = vocab_projection(model)
    x = neuron_weights(model, 0)[:3]  # [3, d_model]
    logits = project_to_vocab(model, x)
    logits[:, 7] -= 10.0
    closed_form = proj.denormalize(proj.normalize(x) - 10.0 * proj.pinv[:, 7], x)
    assert_close(project_back(model, logits, x), closed_form, rtol=1e-4, atol=1e-4)


def test_token_rank_spec_vectors():
    logits = torch.tensor([3.0, 1.0, 2.0])
    assert token_rank(logits, 2).item() == 1
    assert token_rank(logits, 0).item() == 0
    assert token_rank(logits, 1).item() == 2


@pytest.mark.parametrize("seed", range(5))
def test_token_rank_matches_argsort_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randint(0, 20, (6, 50), generator=g).float()  # many ties
    ids = torch.randint(0, 50, (6,), generator=g)
    order = torch.argsort(logits, dim=-1, descending=True, stable=True)
    for row in range(6):
        sorted_values = logits[row, order[row]]
        # First position in descending order holding the target's value = count strictly larger.
        expected = (sorted_values == logits[row, ids[row]]).nonzero()[0].item()
        assert token_rank(logits[row], ids[row]).item() == expected
    assert token_rank(logits, ids).tolist() == [
        token_rank(logits[r], ids[r]).item() for r in range(6)
    ]


def test_token_rank_broadcasts_one_id_over_a_batch():
    logits = torch.randn(3, 4, 10, generator=torch.Generator().manual_seed(0))
    ranks = token_rank(logits, 4)
    assert ranks.shape == (3, 4) and ranks.dtype == torch.int64


def test_token_rank_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"token id 10 is outside the vocabulary \[0, 10\)"):
        token_rank(torch.zeros(10), 10)
    with pytest.raises(ValueError, match="outside"):
        token_rank(torch.zeros(2, 10), torch.tensor([1, -1]))
    with pytest.raises(TypeError, match="integer"):
        token_rank(torch.zeros(10), torch.tensor(1.0))


def test_wrong_width_is_a_clear_error_and_changes_nothing():
    model = build_tiny_model("llama")
    before = _weights(model)
    with pytest.raises(ValueError, match=rf"shape \(3, 63\).*width {D_MODEL}"):
        project_to_vocab(model, torch.zeros(3, D_MODEL - 1))
    with pytest.raises(ValueError, match=rf"width {D_VOCAB}"):
        project_back(model, torch.zeros(3, D_VOCAB + 1), torch.ones(3, D_MODEL))
    with pytest.raises(ValueError, match="does not broadcast"):
        project_back(model, torch.zeros(3, D_VOCAB), torch.ones(2, D_MODEL))
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_non_finite_inverse_is_refused():
    model = build_tiny_model("llama")
    model.model.norm.weight.data[3] = 0.0
    v = torch.randn(2, D_MODEL, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="non-finite"):
        project_back(model, project_to_vocab(model, v), v)


def test_pinv_is_cached_and_refreshed_when_weights_change():
    model = build_tiny_model("gpt2")
    first = vocab_projection(model)
    assert vocab_projection(model) is first
    pinv = first.pinv
    assert vocab_projection(model).pinv is pinv
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)  # in place: bumps the parameter's version
    second = vocab_projection(model)
    assert second is not first
    assert_close(second.pinv, pinv / 2.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_models_project_in_float32(dtype, token_ids):
    reference = build_tiny_model("llama")
    model = build_tiny_model("llama", dtype=dtype)
    with torch.no_grad(), capture(reference, [N_LAYERS - 1]) as ref_acts:
        reference(token_ids)
    with torch.no_grad(), capture(model, [N_LAYERS - 1]) as acts:
        model(token_ids)
    resid = acts[N_LAYERS - 1].residual_after
    assert resid.dtype == dtype
    logits = project_to_vocab(model, resid)
    assert logits.dtype == torch.float32
    ref_logits = project_to_vocab(reference, ref_acts[N_LAYERS - 1].residual_after)
    assert_close(logits, ref_logits, rtol=0.05, atol=0.1)
    back = project_back(model, logits, resid)
    assert back.dtype == torch.float32
    assert_close(back, resid.float(), rtol=2e-2, atol=2e-2)


def test_demotion_direction_holds_protected_tokens_fixed(tiny):
    _, model = tiny
    proj = vocab_projection(model)
    plain, none = proj.demotion_direction(7, 0)
    assert none == [] and torch.equal(plain, proj.pinv[:, 7])
    direction, protected = proj.demotion_direction(7, 5)
    assert len(protected) == 5 and 7 not in protected
    # The protected tokens are those the plain direction moves most.
    q = proj.w_unembed @ plain
    q[7] = -float("inf")
    assert set(protected) == set(torch.topk(q, 5).indices.tolist())
    moved = proj.w_unembed @ direction  # [d_vocab]
    assert moved[protected].abs().max() < 1e-4 * moved[7].abs()
    assert_close(moved[7], (proj.w_unembed @ plain)[7])
