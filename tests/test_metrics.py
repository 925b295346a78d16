import math

import pytest
import torch
from conftest import build_tiny_model

import revs.evaluation.metrics as metrics
from revs.config import REVSConfig
from revs.data.records import Record
from revs.evaluation.metrics import capped_rank_score, harmonic_mean, perplexity, sequence_scores
from revs.hooks import capture
from revs.lens import token_ranks
from revs.targets import select_target_tokens
from revs.vocab import project_to_vocab, token_rank


def _reference(model, tokenizer, texts, window):
    """(perplexity, next-token accuracy), one window at a time."""
    nll, hits, count = 0.0, 0, 0
    for text in texts:
        ids = tokenizer(text).input_ids
        for i in range(0, len(ids), window):
            chunk = torch.tensor([ids[i : i + window]])
            if chunk.shape[1] < 2:
                continue
            with torch.no_grad():
                logits = model(chunk).logits[0, :-1]
            nll += torch.nn.functional.cross_entropy(logits, chunk[0, 1:], reduction="sum").item()
            hits += int((logits.argmax(-1) == chunk[0, 1:]).sum())
            count += chunk.shape[1] - 1
    return math.exp(nll / count), hits / count


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_perplexity_equals_one_window_at_a_time(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    texts = ["a short one", "x", "a longer text that spans two windows of twenty", "mid size"]
    expected, _ = _reference(model, byte_tokenizer, texts, window=20)
    assert perplexity(model, byte_tokenizer, texts, window=20, batch_size=3) == pytest.approx(
        expected, rel=1e-5
    )


def test_perplexity_of_uniform_predictions_is_the_vocabulary_size(byte_tokenizer):
    model = build_tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits equal: every token has probability 1/256
    assert perplexity(model, byte_tokenizer, "any text at all") == pytest.approx(256, rel=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_next_token_accuracy_equals_a_token_by_token_count(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    texts = ["aaaa aaaa aaaa", "x", "a longer text that spans two windows of twenty", "mid size"]
    scores = metrics.language_model_scores(model, byte_tokenizer, texts, window=20, batch_size=3)
    assert scores.next_token_accuracy == pytest.approx(
        _reference(model, byte_tokenizer, texts, window=20)[1])
    assert scores.tokens == 13 + 0 + (19 + 19 + 5) + 7  # windows of 20; "x" predicts nothing
    assert metrics.next_token_accuracy(model, byte_tokenizer, texts, window=20) == pytest.approx(
        scores.next_token_accuracy)


def test_next_token_accuracy_by_hand(byte_tokenizer):
    model = build_tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits tie: the argmax is token 0
    scores = metrics.language_model_scores(model, byte_tokenizer, "\x00a\x00\x00b")
    assert scores.tokens == 4 and scores.next_token_accuracy == pytest.approx(2 / 4)


def test_perplexity_needs_two_tokens(byte_tokenizer):
    with pytest.raises(ValueError, match="two or more tokens"):
        perplexity(build_tiny_model("llama"), byte_tokenizer, ["a"])


# --- rank scores (spec §4.2, §9.6) ---------------------------------------------------------------


def test_capped_rank_score_vectors():
    ranks = torch.tensor([0, 50, 100, 250])
    assert capped_rank_score(ranks, 100).tolist() == [0.0, 0.5, 1.0, 1.0]
    assert capped_rank_score(torch.tensor([[3], [1]]), 2).tolist() == [[1.0], [0.5]]
    with pytest.raises(ValueError, match="positive"):
        capped_rank_score(ranks, 0)


def test_harmonic_mean_vector():
    assert harmonic_mean((0.9888, 0.8967, 0.8217)) == 0.897  # rounded to 3 places
    assert harmonic_mean((1.0, 1.0, 1.0)) == 1.0
    assert harmonic_mean((0.5, 0.5)) == pytest.approx(0.5, abs=1e-5)
    assert harmonic_mean((1.0, 0.0)) == pytest.approx(0.0, abs=1e-5)


SCORE_CONFIG = REVSConfig(residual_band=(20, 120), mlp_band=(20, 200), neuron_band=(150, 230),
                          n_neurons=8, act_filter=16, initial_neurons=2)
RECORDS = [
    Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
    Record("b", "ssn", "Bob's:", " 123-45-6789"),
    Record("c", "code", "x", " 7"),  # a single token to unlearn
]


def _lens_rank(model, token, layer):
    """The token's rank in the logit lens after ``layer``, from one unpadded forward pass."""
    with torch.no_grad(), capture(model, [layer], sites=("residual_after",)) as acts:
        model(input_ids=torch.tensor([token.prefix_ids]), use_cache=False)
    return token_rank(project_to_vocab(model, acts.get(layer, "residual_after")[0, -1]),
                      token.token_id).item()


def test_sequence_score_is_the_max_over_a_records_tokens_spec_vector(monkeypatch, byte_tokenizer):
    """Tokens at ranks (3, 250) with k=100 score max(0.03, 1) = 1 (spec §9.6)."""
    model = build_tiny_model("llama")
    monkeypatch.setattr(metrics, "token_ranks",
                        lambda *args, **kwargs: torch.tensor([[3], [250], [10], [20], [30]]))
    scores = sequence_scores(model, byte_tokenizer, RECORDS, SCORE_CONFIG, k=100)
    assert torch.allclose(scores, torch.tensor([[1.0], [0.2], [0.3]]))


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox"])
def test_sequence_scores_on_a_tiny_model(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    layers = [0, 2]
    k = 256  # never capped: every rank shows in the score
    scores = sequence_scores(model, byte_tokenizer, RECORDS, SCORE_CONFIG, k=k, layers=layers)
    assert scores.shape == (len(RECORDS), len(layers))
    for i, record in enumerate(RECORDS):
        tokens = select_target_tokens(byte_tokenizer, record)
        assert len(tokens) == (1 if record.subject == "c" else 2)
        for j, layer in enumerate(layers):
            per_token = [_lens_rank(model, t, layer) / k for t in tokens]
            assert scores[i, j].item() == pytest.approx(max(per_token), abs=1e-6)


def test_token_ranks_with_right_padding_equal_unpadded_ranks(tiny, byte_tokenizer):
    _, model = tiny
    tokens = [t for record in RECORDS
              for t in select_target_tokens(byte_tokenizer, record, max_tokens=None)]
    lengths = {len(t.prefix_ids) for t in tokens}
    assert len(lengths) > 3  # prefixes of many lengths: most rows are padded
    layers = [0, 1, 2]
    got = token_ranks(model, tokens, layers=layers, batch_size=4, pad_id=0)
    assert got.shape == (len(tokens), len(layers)) and got.dtype == torch.long
    want = torch.tensor([[_lens_rank(model, t, layer) for layer in layers] for t in tokens])
    assert torch.equal(got, want)
    # Default: the last layer, whose logit lens is the model's output.
    assert torch.equal(token_ranks(model, tokens), want[:, -1:])


def test_secret_ranks_take_the_best_hidden_token_per_record():
    ranks = metrics.SecretRanks(ranks=torch.tensor([[0, 10], [50, 300], [300, 0], [10, 0]]),
                                owner=torch.tensor([0, 0, 1, 1]), n_records=2, d_vocab=1000)
    # record 0: max(0, 0.5) at layer 0, max(0.1, 1) at layer 1; record 1: max(1, 0.1), max(0, 0)
    assert ranks.scores(100).tolist() == [[0.5, 1.0], [1.0, 0.0]]
    two_sided = metrics.SecretRanks(torch.tensor([[960], [0]]), torch.tensor([0, 1]), 2, 1000)
    assert two_sided.scores(100).tolist() == [[1.0], [0.0]]
    assert two_sided.scores(100, two_sided=True).tolist() == [[0.0], [0.0]]  # bottom 40: seen


def test_scores_are_in_the_unit_interval_for_any_ranks():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        ranks = torch.randint(0, 1000, (12, 3), generator=generator)
        owner = torch.randint(0, 4, (12,), generator=generator)
        owner[:4] = torch.arange(4)  # every record has a token
        for k in (1, 10, 100, 999):
            for two_sided in (False, True):
                scores = metrics.SecretRanks(ranks, owner, 4, 1000).scores(k, two_sided=two_sided)
                assert scores.shape == (4, 3)
                assert bool(((scores >= 0) & (scores <= 1)).all())


def test_secret_ranks_refuse_an_empty_split(byte_tokenizer):
    with pytest.raises(ValueError, match="split is empty"):
        metrics.secret_ranks(build_tiny_model("llama"), byte_tokenizer, [], SCORE_CONFIG)


def test_efficacy_generality_and_logit_lens_attack_by_hand(monkeypatch, byte_tokenizer):
    """Five tokens (records a: 2, b: 2, c: 1) at three layers; V = 256 (tiny vocabulary)."""
    from revs.evaluation.attacks import logit_lens_attack

    model = build_tiny_model("llama")
    ranks = torch.tensor([[0, 90, 100],  # a, token 1
                          [10, 20, 230],  # a, token 2
                          [200, 5, 7],  # b, token 1
                          [1, 2, 3],  # b, token 2
                          [100, 40, 250]])  # c
    monkeypatch.setattr(metrics, "token_ranks", lambda *args, layers=None, **kw: (
        ranks if layers is not None and len(layers) == 3 else ranks[:, -1:]))
    # k = 100, per record the max over its tokens of min(1, rank / k):
    # layer 0: a 0.1, b 1.0, c 1.0; layer 1: a 0.9, b 0.05, c 0.4; layer 2: a 1.0, b 0.07, c 1.0
    assert metrics.efficacy(model, byte_tokenizer, RECORDS, SCORE_CONFIG, k=100) == (
        pytest.approx((1.0 + 0.07 + 1.0) / 3))
    assert metrics.generality(model, byte_tokenizer, RECORDS, SCORE_CONFIG, k=100) == (
        pytest.approx((0.9 + 0.05 + 0.4) / 3))  # the worst layer: 1
    # Two-sided: ranks 230 and 250 lie in the bottom k / 2 (256 - 250 = 6): the attacker sees
    # them. a keeps its other token (rank 100) hidden; c has none left: layer 2 becomes the worst.
    lla = logit_lens_attack(model, byte_tokenizer, RECORDS, SCORE_CONFIG, k=100)
    assert lla == pytest.approx((1.0 + 0.07 + 0.0) / 3)


def test_specificity_is_an_exact_substring_match(monkeypatch, byte_tokenizer):
    records = [Record("a", "ssn", "Ann: her number is", " 915-11-1364"),
               Record("b", "ssn", "Bob: his number is", " 123-45-6789"),
               Record("c", "ssn", "Cyd's number, 555-12-3456, is", " 555-12-3456")]
    continuations = [" 915-11-1364 and more", " 123-45-678 almost", " not said again"]
    monkeypatch.setattr(metrics, "greedy_continuations", lambda *a, **k: continuations)
    # a: in the continuation; b: one digit short; c: in the prompt itself (counts, as official)
    assert metrics.emitted(None, byte_tokenizer, records).tolist() == [True, False, True]
    assert metrics.specificity(None, byte_tokenizer, records) == pytest.approx(2 / 3)
