"""The GPU path, checked on the CPU: any dtype, a model placed by ``device_map="auto"``.

REVS reads devices and dtypes from the model's tensors: the edits are written in the weights'
dtype and device, the vocabulary projections run in float32 on the unembedding's device. CI has
no GPU; ``benchmarks/bench_device.py`` times the same code on whatever device it finds.
"""

import json
import warnings

import pytest
import torch
from conftest import TINY_CONFIGS, build_tiny_model
from transformers import AutoModelForCausalLM

from revs.cli import main
from revs.config import REVSConfig
from revs.data.records import Record
from revs.edit import revert_edits_
from revs.layout import neuron_weights
from revs.unlearn import unlearn
from revs.vocab import vocab_projection

FORCE = REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                   n_neurons=8, act_filter=16, initial_neurons=2)
TARGETS = [Record("a", "ssn", "The number of Ann is", " 915-11-1364"),
           Record("b", "ssn", "Bob's number:", " 123-45-6789")]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _unlearn(model, tokenizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return unlearn(model, tokenizer, TARGETS, FORCE, progress=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_every_architecture_in_every_dtype(arch, dtype, byte_tokenizer):
    model = build_tiny_model(arch, dtype=dtype)
    before = _snapshot(model)
    result = _unlearn(model, byte_tokenizer)
    assert result.edits, "the tiny bands edit every model"
    projection = vocab_projection(model)
    assert projection.w_unembed.dtype == torch.float32  # projections in float32
    # An edit keeps the original rows in the weights' dtype (a bit-exact revert) and its delta in
    # float32; the weights stay in their dtype.
    assert all(e.delta.dtype == torch.float32 and e.original.dtype == dtype
               for e in result.edits)
    assert all(neuron_weights(model, e.layer).dtype == dtype for e in result.edits)
    assert all(t.rank_after >= t.rank_before for t in result.tokens)
    revert_edits_(model, result.edits)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_model_placed_by_device_map_auto(tmp_path, byte_tokenizer, dtype):
    """``from_pretrained(..., device_map="auto")`` (accelerate's placement; one CPU here)."""
    build_tiny_model("llama").save_pretrained(tmp_path)
    placed = AutoModelForCausalLM.from_pretrained(tmp_path, device_map="auto", dtype=dtype).eval()
    plain = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=dtype).eval()
    before = _snapshot(placed)
    edits = _unlearn(placed, byte_tokenizer)
    same = _unlearn(plain, byte_tokenizer)
    assert [(e.layer, e.neurons.tolist()) for e in edits.edits] == [
        (e.layer, e.neurons.tolist()) for e in same.edits]
    assert all(torch.equal(a.delta, b.delta) for a, b in zip(edits.edits, same.edits, strict=True))
    revert_edits_(placed, edits.edits)
    assert all(torch.equal(p, before[n]) for n, p in placed.named_parameters())


@pytest.mark.parametrize("argv, message", [
    (["--device", "cuda"], "no CUDA device"),
    (["--device", "toaster"], "is not a device"),
])
def test_bad_device_is_a_clean_error(capsys, tmp_path, argv, message):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    targets = tmp_path / "t.csv"
    targets.write_text("prompt,secret\nMy code is,1234\n")
    code = main(["unlearn", "--targets", str(targets), "--out", str(tmp_path / "p.safetensors"),
                 *argv])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "p.safetensors").exists()


def test_a_testbed_is_not_placed(capsys):
    assert main(["unlearn", "--dataset", "ssn", "--dtype", "bfloat16"]) == 2
    assert "--dtype and --device place a model given with --targets" in capsys.readouterr().err


@pytest.mark.integration
def test_unlearn_a_bfloat16_model_from_the_command_line(capsys, tmp_path):
    targets = tmp_path / "t.csv"
    targets.write_text("prompt,secret\nThe Social Security Number of Ann Lee is, 915-11-1364\n")
    patch = tmp_path / "p.safetensors"
    argv = ["unlearn", "--targets", str(targets), "--dtype", "bfloat16", "--force", "--out",
            str(patch), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dtype"] == "bfloat16" and summary["device"] == "cpu"
    assert summary["unlearned"] == 1 and patch.is_file()
