"""bfloat16 products on this CPU: its own kernel against the float32 path of ``revs.bf16``.

Prints, for the three places revs computes in bfloat16, the median seconds of the CPU's bfloat16
kernel (``native``) and of the float32 path (``float32``, what ``revs.bf16`` runs on a CPU
without bfloat16 units), their ratio measured in the same run, and how far apart the two paths'
numbers are (norm of the difference over the norm; one bfloat16 rounding is ~4e-3): one
``[1024, 576] x [576, 1536]`` product (an MLP projection of a batch), REVS's rank screen
(``decided_ranks`` for 102 vectors against SmolLM2's 49,152 tokens: one layer edit's
candidates; its decisions are compared) and a small training step of the testbed (2 SSN records
and 32 tokens of replayed text, forward and backward under autocast; a real step is ~10x
bigger). On a CPU with bfloat16 units revs keeps the native path: there the ratio only says
what the units buy.

Usage: python benchmarks/bench_bf16.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    import revs.bf16 as bf16
    from revs import load_model, vocab_projection
    from revs.data import load_dataset
    from revs.experiments import testbed
    from revs.tokens import encode

    units = bf16._cpu_has_bf16_units()
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, bfloat16 units: {units}, "
          f"{torch.get_num_threads()} threads")
    model, tokenizer = load_model()
    projection = vocab_projection(model)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(1024, 576, generator=generator).to(torch.bfloat16)
    b = torch.randn(576, 1536, generator=generator).to(torch.bfloat16)
    vectors = torch.randn(102, projection.d_model, generator=generator)
    token_id = int(tokenizer(" 7", add_special_tokens=False).input_ids[-1])
    encoded = [encode(tokenizer, r) for r in load_dataset("ssn", n_subjects=2)[:2]]
    chunks = testbed._replay_chunks(tokenizer, 32)[:1]
    reference = copy.deepcopy(model).eval().requires_grad_(False)

    def step():
        model.zero_grad(set_to_none=True)
        with bf16.bf16_matmuls("cpu"):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = (testbed._target_loss(model, encoded, tokenizer.pad_token_id)
                        + testbed._replay_loss(model, reference, chunks))
            loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    cases = {
        "product [1024,576]x[576,1536]": lambda: bf16.bf16_matmul(a, b),
        "rank screen, 102 vectors": lambda: torch.stack([  # the decisions it makes
            projection.decided_ranks(vectors, token_id, (1_000, 45_000)) >= tau
            for tau in (1_000, 45_000)]),
        "testbed training step": step,
    }
    print(f"{'case':32} {'native s':>10} {'float32 s':>10} {'ratio':>7}  numbers")
    for name, run in cases.items():
        times = {"native": [], "float32": []}
        outputs = {}
        for _ in range(args.repeats):
            for path in ("native", "float32"):  # alternating, so both see the same machine
                bf16._cpu_has_bf16_units = (lambda: True) if path == "native" else (
                    lambda: False)
                start = time.perf_counter()
                outputs[path] = run()
                times[path].append(time.perf_counter() - start)
        native, wide = (statistics.median(times[p]) for p in ("native", "float32"))
        same = torch.equal(outputs["native"], outputs["float32"])
        x, y = outputs["native"].float(), outputs["float32"].float()
        verdict = "identical" if same else (
            f"relative difference {float((x - y).norm() / x.norm()):.1e}")
        print(f"{name:32} {native:10.3f} {wide:10.3f} {native / wide:6.1f}x  {verdict}")


if __name__ == "__main__":
    main()
