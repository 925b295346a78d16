"""bfloat16 products on CPUs without bfloat16 units: the arithmetic of the units, float32 speed.

Whatever CPU runs the suite, both paths are exercised: the native one as the machine has it, the
float32 one by declaring the units missing.
"""

import contextlib

import pytest
import torch
from conftest import TINY_CONFIGS, build_tiny_model
from torch.utils._python_dispatch import TorchDispatchMode

import revs.bf16 as bf16
from revs import token_rank, vocab_projection


@pytest.fixture
def no_units(monkeypatch):
    monkeypatch.setattr(bf16, "_cpu_has_bf16_units", lambda: False)


def _operands(*shape_pairs, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator).to(torch.bfloat16) for shape in shape_pairs]


def test_devices_other_than_the_cpu_count_as_native(no_units):
    assert not bf16.native_bf16("cpu") and bf16.native_bf16("cuda:0")


def test_the_cpu_probe_answers():
    assert isinstance(bf16._cpu_has_bf16_units(), bool)


def test_the_float32_path_rounds_exact_products_once(no_units):
    a, b = _operands((64, 300), (300, 48))
    got = bf16.bf16_matmul(a, b)
    assert got.dtype == torch.bfloat16
    reference = (a.double() @ b.double()).to(torch.bfloat16)  # exact sums, one rounding
    # float32 sums of exact products: within one bfloat16 step of the exactly rounded result
    step = reference.float().abs() * 2**-7 + 1e-30
    assert ((got.float() - reference.float()).abs() <= step).all()
    native = a @ b  # the CPU's own bfloat16 kernel, whatever it is
    assert ((got.float() - native.float()).abs() <= native.float().abs() * 2**-7 + 1e-6).all()


def test_products_under_autocast_run_in_float32_forward_and_backward(no_units):
    model = build_tiny_model("llama")
    ids = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0))
    seen = []

    class Spy(TorchDispatchMode):  # entered first, so it sees what the mode passes on
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in bf16._PRODUCTS:
                seen.append({a.dtype for a in args if isinstance(a, torch.Tensor)})
            return func(*args, **(kwargs or {}))

    def gradients(*modes):
        model.zero_grad()
        with contextlib.ExitStack() as stack:
            for mode in modes:
                stack.enter_context(mode)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(input_ids=ids).logits
            logits.float().logsumexp(-1).sum().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    widened = gradients(Spy(), bf16.bf16_matmuls("cpu"))
    assert len(seen) > 10 and all(dtypes == {torch.float32} for dtypes in seen)
    native = gradients()
    assert torch.allclose(widened, native, rtol=0.05, atol=1e-3)


def test_outside_the_mode_and_with_units_nothing_changes(monkeypatch):
    monkeypatch.setattr(bf16, "_cpu_has_bf16_units", lambda: True)
    a, b = _operands((8, 16), (16, 4))
    assert torch.equal(bf16.bf16_matmul(a, b), a @ b)
    assert isinstance(bf16.bf16_matmuls("cpu"), contextlib.nullcontext)


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_rank_screen_decides_exactly_on_the_float32_path(arch, no_units):
    model = build_tiny_model(arch)
    projection = vocab_projection(model)
    vectors = 3 * torch.randn(30, projection.d_model, generator=torch.Generator().manual_seed(2))
    for token_id in (3, 255):
        exact = token_rank(projection.project(vectors), token_id)
        for tau in (1, 20, 128, 250):
            got = projection.decided_ranks(vectors, token_id, (tau,))
            assert torch.equal(got >= tau, exact >= tau)


def test_products_in_other_dtypes_are_left_alone(no_units):
    assert isinstance(bf16.bf16_matmuls("cpu", torch.float32), contextlib.nullcontext)
    assert isinstance(bf16.bf16_matmuls("cpu", torch.bfloat16), bf16._Float32Products)
