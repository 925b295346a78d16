"""bfloat16 matrix products at float32 speed on CPUs without bfloat16 units.

Two places compute in bfloat16 for speed: REVS's rank screen (:meth:`revs.vocab.VocabProjection.
decided_ranks`) and the testbed's training under autocast (:mod:`revs.experiments.testbed`). Both
were written for CPUs with bfloat16 matrix units (AMX, AVX512-BF16) or a GPU. On a CPU without
them (an AVX2-only one) PyTorch falls back to a generic kernel measured ~45x *slower* than
float32 (1.5 s against 34 ms for a ``[1024, 576] x [576, 1536]`` product, 2-core AMD EPYC).

A product of two bfloat16 numbers is exact in float32 (8-bit significands), so what the
bfloat16 units compute, float32 sums of exact products rounded to bfloat16 at the end, is a
float32 product of the bfloat16 values, rounded: the same arithmetic up to the order of the
float32 sums (which already differs between any two kinds of CPU). Where the units are missing,
:func:`bf16_matmul` and :func:`bf16_matmuls` compute it that way.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["bf16_matmul", "bf16_matmuls", "native_bf16"]

_aten = torch.ops.aten
_PRODUCTS = (_aten.mm.default, _aten.addmm.default, _aten.bmm.default, _aten.baddbmm.default)


@functools.cache
def _cpu_has_bf16_units() -> bool:
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    # Private probes of torch.cpu; without them, assume the units (the old behaviour).
    found = [getattr(torch.cpu, name, None) for name in probes]
    if not any(found):
        return True
    return any(probe() for probe in found if probe is not None)


def native_bf16(device: torch.device | str) -> bool:
    """Whether bfloat16 products on ``device`` run on bfloat16 units (any GPU: assumed yes)."""
    return torch.device(device).type != "cpu" or _cpu_has_bf16_units()


def bf16_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of bfloat16 tensors as bfloat16 units compute it: float32 sums, one rounding."""
    if native_bf16(a.device):
        return a @ b
    return (a.float() @ b.float()).to(torch.bfloat16)


class _Float32Products(TorchDispatchMode):
    """Runs every bfloat16 matrix product in float32 and rounds the result to bfloat16."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _PRODUCTS and any(isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16
                                     for a in args):
            widened = [a.float() if isinstance(a, torch.Tensor) else a for a in args]
            return func(*widened, **kwargs).to(torch.bfloat16)
        return func(*args, **kwargs)


def bf16_matmuls(device: torch.device | str, dtype: torch.dtype = torch.bfloat16):
    """A context in which bfloat16 matrix products on ``device`` run at float32 speed.

    ``dtype`` is what the products run in (the weights', or autocast's): nothing changes unless
    it is bfloat16 and ``device`` lacks the units (:func:`native_bf16`). Then each ``mm`` /
    ``addmm`` / ``bmm`` / ``baddbmm`` with a bfloat16 operand (linear layers, forward and
    backward) is computed as :func:`bf16_matmul` does.
    """
    if dtype != torch.bfloat16 or native_bf16(device):
        return contextlib.nullcontext()  # no Python dispatch on every op when none is needed
    return _Float32Products()
