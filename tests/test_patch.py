import dataclasses

import pytest
import torch
from conftest import D_MODEL, build_tiny_model
from safetensors.torch import save_file

from revs.config import REVSConfig
from revs.data.records import Record
from revs.edit import NeuronEdit, apply_edits_
from revs.layout import neuron_weights
from revs.patch import Patch, load_patch, model_fingerprint, target_hashes
from revs.unlearn import unlearn

CONFIG = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                    n_neurons=8, act_filter=16, initial_neurons=2)
TARGETS = [
    Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
    Record("b", "ssn", "Bob's number:", " 123-45-6789"),
]


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def unlearned(request, byte_tokenizer):
    """(architecture, edited model, result) of one unlearning run."""
    model = build_tiny_model(request.param)
    result = unlearn(model, byte_tokenizer, TARGETS, CONFIG, progress=False)
    assert result.edits
    return request.param, model, result


@pytest.fixture
def saved(unlearned, tmp_path):
    _, _, result = unlearned
    return result.patch.save(tmp_path / "patch.safetensors")


def _same_weights(a, b):
    params_b = dict(b.named_parameters())
    return all(torch.equal(p, params_b[n]) for n, p in a.named_parameters())


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_save_load_round_trip(unlearned, saved):
    _, _, result = unlearned
    patch = load_patch(saved)
    assert len(patch) == len(result.patch)
    for got, want in zip(patch.edits, result.edits, strict=True):
        assert got.layer == want.layer
        assert torch.equal(got.neurons, want.neurons)
        assert torch.equal(got.delta, want.delta)
        assert torch.equal(got.original, want.original)
    assert patch.config == result.config == CONFIG
    assert patch.fingerprint == result.patch.fingerprint
    assert patch.targets == result.patch.targets


def test_a_loaded_patch_reproduces_the_edited_model(unlearned, saved):
    arch, edited, _ = unlearned
    fresh = build_tiny_model(arch, seed=0)
    assert not _same_weights(fresh, edited)
    patch = load_patch(saved)
    patch.apply_(fresh)
    assert _same_weights(fresh, edited)
    patch.revert_(fresh)
    assert _same_weights(fresh, build_tiny_model(arch, seed=0))


def test_applying_to_another_model_is_refused(unlearned, saved):
    arch, _, _ = unlearned
    patch = load_patch(saved)
    for other in (build_tiny_model(arch, seed=1),
                  build_tiny_model("qwen2" if arch == "llama" else "gptj")):
        before = _snapshot(other)
        with pytest.raises(ValueError, match="another model"):
            patch.apply_(other)
        assert all(torch.equal(p, before[n]) for n, p in other.named_parameters())


def test_applying_to_another_dtype_is_refused(unlearned, saved):
    arch, _, _ = unlearned
    with pytest.raises(ValueError, match="dtype"):
        load_patch(saved).apply_(build_tiny_model(arch, dtype=torch.bfloat16))


def test_applying_twice_is_refused(unlearned, saved):
    arch, edited, _ = unlearned
    patch = load_patch(saved)
    fresh = build_tiny_model(arch)
    patch.apply_(fresh)
    state = _snapshot(fresh)
    # Refused by the fingerprint, or else by the rows no longer matching the edits' originals.
    refused = "already edited|already applied"
    with pytest.raises(ValueError, match=refused):
        patch.apply_(fresh)
    assert all(torch.equal(p, state[n]) for n, p in fresh.named_parameters())
    with pytest.raises(ValueError, match=refused):
        patch.apply_(edited)


def test_a_flipped_byte_is_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's data
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load_patch(saved)


def test_truncated_and_foreign_files_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) - 100])
    text = tmp_path / "text.safetensors"
    text.write_text("not a patch at all\n")
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(3)}, str(other))  # valid safetensors, no revs metadata
    for path in (truncated, text, other):
        with pytest.raises(ValueError, match="not a readable revs patch"):
            load_patch(path)
    with pytest.raises(FileNotFoundError):
        load_patch(tmp_path / "missing.safetensors")


def test_secrets_are_not_in_the_file(saved):
    data = saved.read_bytes()
    for record in TARGETS:
        for text in (record.target, record.secret, record.secret.replace("-", ""),
                     record.prompt):
            assert text.encode() not in data


def test_covers(unlearned, saved):
    patch = load_patch(saved)
    assert all(patch.covers(record) for record in TARGETS)
    ann = TARGETS[0]
    assert not patch.covers(dataclasses.replace(ann, target=" 915-11-1365"))
    assert not patch.covers(dataclasses.replace(ann, prompt="The number of Anne is"))
    assert not patch.covers(Record("c", "ssn", "Carl:", " 111-22-3333"))


def test_target_hashes_are_salted():
    first, second = target_hashes(TARGETS), target_hashes(TARGETS)
    assert first["salt"] != second["salt"] and first["hashes"] != second["hashes"]
    salt = bytes(16)
    assert target_hashes(TARGETS, salt) == target_hashes(TARGETS, salt)


def test_fingerprint_changes_after_any_edit():
    model = build_tiny_model("llama")
    before = model_fingerprint(model)
    neurons = torch.tensor([1])
    apply_edits_(model, [NeuronEdit(0, neurons, torch.ones(1, D_MODEL),
                                    neuron_weights(model, 0)[neurons].clone())])
    assert model_fingerprint(model) != before


def test_an_empty_patch_round_trips(tmp_path):
    model = build_tiny_model("llama")
    patch = Patch(edits=[], config=CONFIG, fingerprint=model_fingerprint(model),
                  targets=target_hashes(TARGETS[:1]))
    loaded = load_patch(patch.save(tmp_path / "empty.safetensors"))
    assert loaded.edits == [] and loaded.config == CONFIG
    loaded.apply_(model)
