"""The faster paths of issue 23 decide exactly as the plain float32 computations they replace.

- ``VocabProjection.decided_ranks`` (a bfloat16 screen, rechecked in float32 near a threshold)
  agrees with ``token_rank(project(v))`` on every threshold, for every architecture and dtype;
- ``demote_rank`` ranks only the neurons still searching, and demoting candidates in chunks
  takes the same steps as demoting all at once;
- ``demote_in_layer`` demotes only the candidates the count search reaches and, for an RMSNorm
  without an unembedding bias, reads the count ranks from two projections: the same edit as
  demoting every candidate and projecting the edited vectors for every count;
- ``token_ranks`` reads the tokens of one secret inside its longest prefix: the same ranks as
  running every prefix on its own.
"""

import dataclasses

import pytest
import torch
from conftest import D_VOCAB, N_LAYERS, TINY_CONFIGS, build_tiny_model
from torch.testing import assert_close

from revs import REVSConfig, capture, neuron_weights, token_rank, vocab_projection
from revs.demote import demote_rank
from revs.layer_step import _count_ranks, _LazyDemotion, _projected_count_ranks
from revs.lens import _host_sequences
from revs.select import select_neurons

CONFIG = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                    n_neurons=8, act_filter=16, initial_neurons=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_decided_ranks_agree_with_float32_ranks_on_every_threshold(arch, dtype):
    model = build_tiny_model(arch, dtype=dtype)
    projection = vocab_projection(model)
    generator = torch.Generator().manual_seed(1)
    vectors = torch.cat([neuron_weights(model, 1).float()[:40],
                         3 * torch.randn(20, projection.d_model, generator=generator)])
    for token_id in (3, 100, 255):
        exact = token_rank(projection.project(vectors), token_id)
        for thresholds in [(20,), (128,), (200, 250), (1, 255)]:
            got = projection.decided_ranks(vectors, token_id, thresholds)
            assert got.shape == exact.shape and got.dtype == torch.long
            for tau in thresholds:
                assert torch.equal(got >= tau, exact >= tau), (token_id, tau)
        # Every threshold asked: every rank is exact.
        assert torch.equal(projection.decided_ranks(vectors, token_id, tuple(range(D_VOCAB))),
                           exact)


def test_decided_ranks_count_duplicate_rows_as_ties():
    """Tokens with the target's very unembedding tie with it, as in token_rank."""
    model = build_tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight[10:13] = model.lm_head.weight[7]
    projection = vocab_projection(model, refresh=True)
    vectors = torch.randn(30, projection.d_model, generator=torch.Generator().manual_seed(0))
    exact = token_rank(projection.project(vectors), 7)
    assert torch.equal(projection.decided_ranks(vectors, 7, tuple(range(D_VOCAB))), exact)


def test_demotion_in_chunks_equals_demotion_at_once(tiny):
    _, model = tiny
    projection = vocab_projection(model)
    rows = neuron_weights(model, 1)[:12]
    whole = demote_rank(projection, rows, 42, CONFIG)
    lazy = _LazyDemotion(projection, rows, 42, CONFIG, None)
    for count in (2, 3, 7, 12):
        lazy.upto(count)
    parts = lazy.result()
    for field in ("rank_before", "rank_after", "logit_step", "in_band"):
        assert torch.equal(getattr(parts, field), getattr(whole, field)), field
    # The same steps; the norm's row statistics of a [2, d] and a [12, d] batch may be summed in
    # another order (bit for bit on SmolLM2's d = 576, see benchmarks/bench_unlearn.py).
    assert_close(parts.delta, whole.delta, rtol=1e-5, atol=1e-7)


def _layer_inputs(model, layer):
    ids = torch.randint(2, D_VOCAB, (1, 7), generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), capture(model, [layer]) as acts:
        model(input_ids=ids, use_cache=False)
    return acts[layer]


@pytest.mark.parametrize("layer", range(N_LAYERS))
@pytest.mark.parametrize("arch", ["llama", "qwen3", "mistral"])
def test_closed_form_count_ranks_equal_projected_count_ranks(arch, layer):
    """RMSNorm, no unembedding bias: the ranks for every count without projecting per count."""
    model = build_tiny_model(arch)
    projection = vocab_projection(model)
    acts = _layer_inputs(model, layer)
    u, mlp_out, residual = (acts.mlp_activations[0, -1], acts.mlp_out[0, -1],
                            acts.residual_after[0, -1])
    rows = neuron_weights(model, layer)
    config = dataclasses.replace(CONFIG, n_neurons=16, act_filter=40)
    vectors = torch.stack([mlp_out, residual]).float()
    compared = 0
    for token_id in range(2, D_VOCAB, 23):
        candidates = select_neurons(u, rows, projection, token_id, config).neurons
        acts_c = u[candidates].float()
        lazy = [_LazyDemotion(projection, rows[candidates].clone(), token_id, config, None)
                for _ in range(2)]  # one each: the two demote as they need
        fast = _count_ranks(projection, lazy[0], acts_c, vectors, projection.project(vectors),
                            token_id)
        slow = _projected_count_ranks(projection, lazy[1], acts_c, mlp_out, residual, token_id)
        for count in range(len(candidates) + 1):
            assert fast(count) == slow(count), (token_id, count)
            compared += 1
    assert compared > 50


def test_host_sequences_read_each_prefix_from_the_longest_that_begins_with_it():
    prefixes = [[1, 2, 3], [1, 2], [4, 5], [1, 2, 3, 4], [4], [6]]
    sequences, reads = _host_sequences(prefixes)
    assert sorted(map(tuple, sequences)) == [(1, 2, 3, 4), (4, 5), (6,)]
    read = {i: (tuple(sequences[s]), position) for s, pairs in enumerate(reads)
            for i, position in pairs}
    assert sorted(read) == list(range(len(prefixes)))
    for i, prefix in enumerate(prefixes):
        sequence, position = read[i]
        assert list(sequence[: position + 1]) == prefix
