import math

import pytest
import torch
from conftest import build_tiny_model

from revs.metrics import perplexity


def _reference_perplexity(model, tokenizer, texts, window):
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text).input_ids
        for i in range(0, len(ids), window):
            chunk = torch.tensor([ids[i : i + window]])
            if chunk.shape[1] < 2:
                continue
            logits = model(chunk).logits[0, :-1]
            nll += torch.nn.functional.cross_entropy(logits, chunk[0, 1:], reduction="sum").item()
            count += chunk.shape[1] - 1
    return math.exp(nll / count)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_perplexity_equals_one_window_at_a_time(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    texts = ["a short one", "x", "a longer text that spans two windows of twenty", "mid size"]
    expected = _reference_perplexity(model, byte_tokenizer, texts, window=20)
    assert perplexity(model, byte_tokenizer, texts, window=20, batch_size=3) == pytest.approx(
        expected, rel=1e-5
    )


def test_perplexity_of_uniform_predictions_is_the_vocabulary_size(byte_tokenizer):
    model = build_tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits equal: every token has probability 1/256
    assert perplexity(model, byte_tokenizer, "any text at all") == pytest.approx(256, rel=1e-5)


def test_perplexity_needs_two_tokens(byte_tokenizer):
    with pytest.raises(ValueError, match="two or more tokens"):
        perplexity(build_tiny_model("llama"), byte_tokenizer, ["a"])
