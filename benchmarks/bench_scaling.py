"""Does REVS's cost per secret stay flat as the number of secrets grows?

Memorizes ``max(--sizes)`` synthetic SSNs (one record per person, generated with ``--seed``, so
not the book's testbed) into the embedded model once (cached like every testbed), then for each
size N forgets the first N in one call (the paper's sequential, cumulative setting), reverting
between sizes, and prints seconds per secret, forward passes per secret, neurons edited per
secret and the process's peak memory at each size, with the ratio of each size's seconds per
secret to the smallest size's.

Usage: python benchmarks/bench_scaling.py [--sizes 10 100 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated SSNs")
    args = parser.parse_args()

    from revs import REVSConfig, revert_edits_, unlearn, vocab_projection
    from revs.data.ssn import generate_ssn_records
    from revs.evaluation.generation import exact_reproduction
    from revs.experiments.testbed import memorize

    people = generate_ssn_records(max(args.sizes), seed=args.seed)
    records, seen = [], set()
    for record in people:  # the first record of each person: one secret each
        if record.subject not in seen:
            seen.add(record.subject)
            records.append(record)
    start = time.perf_counter()
    memorized = memorize(records)
    model, tokenizer = memorized.model, memorized.tokenizer
    reproduced = exact_reproduction(model, tokenizer, records).float().mean().item()
    print(f"{len(records)} SSNs memorized ({reproduced:.1%} reproduced exactly) in "
          f"{time.perf_counter() - start:.0f} s (0 when cached)")
    vocab_projection(model).pinv  # noqa: B018 - once per model
    warnings.simplefilter("ignore")
    config = REVSConfig()
    baseline = None
    print(f"{'secrets':>8}{'s/secret':>10}{'x smallest':>12}{'passes/secret':>15}"
          f"{'neurons/secret':>16}{'peak RSS MiB':>14}")
    for size in sorted(args.sizes):
        result = unlearn(model, tokenizer, records[:size], config, progress=False)
        revert_edits_(model, result.edits)
        per_secret = result.seconds / size
        baseline = baseline or per_secret
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{size:>8}{per_secret:>10.3f}{per_secret / baseline:>12.2f}"
              f"{result.forward_passes / size:>15.2f}{result.n_neurons / size:>16.1f}"
              f"{peak:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
