import pytest
import torch
from conftest import build_tiny_model

from revs.data.records import Record
from revs.evaluation.generation import exact_reproduction
from revs.experiments.testbed import MemorizeRecipe, train_to_memorize

RECORDS = [
    Record("a", "k", "the code of anna is", " 917-2"),
    Record("b", "k", "the code of bob is", " 934-8"),
    Record("c", "k", "ledger entry for carl:", " 000-5"),
]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_training_memorizes_and_touches_only_decoder_layers(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert not exact_reproduction(model, byte_tokenizer, RECORDS).any()
    recipe = MemorizeRecipe(lr=3e-3, batch_size=2, max_epochs=60, min_epochs=1, replay_tokens=0)
    info = train_to_memorize(model, byte_tokenizer, RECORDS, recipe)
    assert info["exact"] == 1.0 and info["epochs"] < 60
    assert exact_reproduction(model, byte_tokenizer, RECORDS).all()
    history = info["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".h." in n or ".layers." in n for n in changed), changed
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())  # restored as they were


def test_mlp_only_recipe_changes_only_mlps(byte_tokenizer):
    model = build_tiny_model("llama")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_to_memorize(model, byte_tokenizer, RECORDS,
                      MemorizeRecipe(lr=1e-3, batch_size=3, max_epochs=2, trainable="mlp",
                                     replay_tokens=0))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".mlp." in n for n in changed), changed


def test_unknown_trainable_is_refused(byte_tokenizer):
    with pytest.raises(ValueError, match="trainable"):
        train_to_memorize(build_tiny_model("llama"), byte_tokenizer, RECORDS,
                          MemorizeRecipe(trainable="everything"))


def test_replay_keeps_general_text_closer_to_the_base_model(byte_tokenizer):
    """Same steps and lr: with KL replay, held-out predictions diverge less from the base model."""
    from revs.data.corpus import general_corpus
    from revs.experiments.testbed import _replay_loss

    text = "\n".join(general_corpus("heldout", max_documents=3))
    held_out = torch.tensor(byte_tokenizer(text).input_ids[: 4 * 64]).view(4, 64)
    divergence = {}
    for replay in (0, 128):
        model = build_tiny_model("llama")
        recipe = MemorizeRecipe(lr=3e-3, batch_size=3, max_epochs=15, min_epochs=15,
                                replay_tokens=replay, replay_chunk=64, replay_weight=10.0,
                                autocast=None)
        train_to_memorize(model, byte_tokenizer, RECORDS, recipe)
        with torch.no_grad():
            divergence[replay] = _replay_loss(model, build_tiny_model("llama"), held_out).item()
    assert divergence[128] < 0.5 * divergence[0], divergence


@pytest.mark.integration
def test_smoke_testbed_on_the_embedded_model():
    """The CI-sized SSN testbed (4 people, 20 records) is memorized, reported and cached."""
    from revs.experiments.testbed import testbed_report

    report = testbed_report("ssn", n_subjects=4, perplexity_documents=5)
    assert report["n_records"] == 20
    for part in ("forget", "generality", "retain"):
        assert report[f"{part}_exact"] >= 0.9, report
    assert 0 < report["ppl_before"] < 60 and report["ppl_increase"] < 0.25, report
    again = testbed_report("ssn", n_subjects=4, perplexity_documents=5)  # from the cache
    assert again["checkpoint"] == report["checkpoint"]
    assert again["training_seconds"] == report["training_seconds"]
