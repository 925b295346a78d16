"""How fast REVS unlearns one SSN on the embedded model (2 target tokens), and at what cost.

Prints, for the default REVSConfig on the memorized SSN testbed (split seed 0):
- seconds per SSN unlearned alone (each SSN edited on the unedited model, then reverted),
  median over SSNs and repeats;
- seconds per SSN in the paper's setting: all 20 forget SSNs edited one after the other;
- forward passes used per SSN: full-pass equivalents (decoder layers run / n_layers) and calls;
- peak resident memory of the process, and its growth over the loaded model.

Usage: python benchmarks/bench_unlearn.py [--ssns 10] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import warnings

import torch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ssns", type=int, default=10, help="SSNs timed one by one")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per SSN")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from revs import REVSConfig, revert_edits_, unlearn, vocab_projection
    from revs.data import load_dataset, split_records
    from revs.experiments.testbed import memorize

    records = load_dataset("ssn")
    memorized = memorize(records)
    model, tokenizer = memorized.model, memorized.tokenizer
    split = split_records(records, 0)
    config = REVSConfig()
    vocab_projection(model).pinv  # noqa: B018 - computed once per model; not part of a run
    loaded_rss = peak_rss_mib()
    warnings.simplefilter("ignore")  # "nothing to unlearn" warnings are counted below

    times, passes, calls, skipped = [], [], [], 0
    for record in split.forget[: args.ssns]:
        for _ in range(args.repeats):
            result = unlearn(model, tokenizer, [record], config, progress=False)
            revert_edits_(model, result.edits)
            times.append(result.seconds)
            passes.append(result.forward_passes)
            calls.append(result.forward_calls)
        skipped += bool(result.skipped)

    start = time.perf_counter()
    batch = unlearn(model, tokenizer, split.forget, config, progress=False)
    sequential = (time.perf_counter() - start) / len(split.forget)
    revert_edits_(model, batch.edits)

    print(f"torch threads: {torch.get_num_threads()}; settings: REVSConfig() defaults")
    print(f"one SSN at a time ({args.ssns} SSNs x {args.repeats} repeats):")
    print(f"  median seconds per SSN       {statistics.median(times):.3f} "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    print(f"  median forward passes        {statistics.median(passes):.2f} full-pass "
          f"equivalents in {statistics.median(calls):.0f} calls (+2 batched rank passes)")
    print(f"  SSNs needing no edit         {skipped}")
    print(f"{len(split.forget)} SSNs one after the other (the paper's setting):")
    print(f"  seconds per SSN              {sequential:.3f}")
    print(f"  forward passes per SSN       {batch.forward_passes / len(split.forget):.2f}")
    print(f"  neurons edited               {batch.n_neurons} in {len(batch.edits)} layer edits")
    print(f"memory: peak RSS {peak_rss_mib():.0f} MiB "
          f"(+{peak_rss_mib() - loaded_rss:.0f} MiB over the loaded model and pinv)")


if __name__ == "__main__":
    main()
