"""How fast REVS unlearns SSNs on the embedded model, today's code against an earlier revision.

Prints, for the default REVSConfig on the memorized SSN testbed (split seed 0), for this checkout
("after") and for ``--before REV`` ("before", a ``git archive`` of that revision's ``revs/``),
measured in the same run, the two alternating:
- seconds per SSN unlearned alone (each SSN edited on the unedited model, then reverted),
  median over SSNs and repeats;
- seconds per SSN in the paper's setting: all 20 forget SSNs edited one after the other
  (median over repeats);
- forward passes per SSN (full-pass equivalents: decoder layers run / n_layers), the matrix
  FLOPs per SSN (``torch.utils.flop_counter``: every matmul, the model's and the unembedding's,
  counted once on a separate run) and the process's peak resident memory (with its growth
  over the loaded model and testbed, 0 when loading was the peak);
- whether the edits of both are the same, bit for bit (layers, neurons, deltas, token ranks).

Usage: python benchmarks/bench_unlearn.py [--ssns 5] [--repeats 3] [--before c54fe3e]
       [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from revision import BEFORE, ROOT, extract


def _worker(ssns: int, threads: int | None, edits_file: str) -> None:
    """One measurement with whatever ``revs`` is importable; prints one JSON line."""
    import resource
    import time
    import warnings

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if threads:
        torch.set_num_threads(threads)
    from revs import REVSConfig, revert_edits_, unlearn, vocab_projection
    from revs.data import load_dataset, split_records
    from revs.experiments.testbed import memorize

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    records = load_dataset("ssn")
    memorized = memorize(records)
    model, tokenizer = memorized.model, memorized.tokenizer
    split = split_records(records, 0)
    config = REVSConfig()
    vocab_projection(model).pinv  # noqa: B018 - once per model; not part of a run
    warnings.simplefilter("ignore")  # "nothing to unlearn" warnings
    warm_up = unlearn(model, tokenizer, split.forget[:1], config, progress=False)
    revert_edits_(model, warm_up.edits)
    loaded = peak_mib()

    alone, alone_passes = [], []
    for record in split.forget[:ssns]:
        result = unlearn(model, tokenizer, [record], config, progress=False)
        revert_edits_(model, result.edits)
        alone.append(result.seconds)
        alone_passes.append(result.forward_passes)
    start = time.perf_counter()
    batch = unlearn(model, tokenizer, split.forget, config, progress=False)
    sequence = (time.perf_counter() - start) / len(split.forget)
    revert_edits_(model, batch.edits)
    torch.save({"edits": [(e.layer, e.neurons, e.delta) for e in batch.edits],
                "tokens": [(t.target, t.position, t.token_id, t.rank_before, t.rank_after,
                            t.neurons) for t in batch.tokens]}, edits_file)
    peak = peak_mib() - loaded

    with FlopCounterMode(display=False) as one:
        result = unlearn(model, tokenizer, split.forget[:1], config, progress=False)
    revert_edits_(model, result.edits)
    with FlopCounterMode(display=False) as many:
        result = unlearn(model, tokenizer, split.forget, config, progress=False)
    revert_edits_(model, result.edits)
    print(json.dumps({
        "alone": alone, "alone_passes": alone_passes, "sequence": sequence,
        "sequence_passes": batch.forward_passes / len(split.forget),
        "alone_gflop": one.get_total_flops() / 1e9,
        "sequence_gflop": many.get_total_flops() / 1e9 / len(split.forget),
        "peak_mib": peak, "peak_total_mib": peak_mib(), "n_neurons": batch.n_neurons,
        "threads": torch.get_num_threads(),
    }))


def _measure(tree: Path, args, edits_file: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--worker", "--ssns", str(args.ssns),
               "--edits", str(edits_file)] + (["--threads", str(args.threads)]
                                              if args.threads else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"the worker for {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_edits(a: Path, b: Path) -> str:
    import torch

    x, y = torch.load(a), torch.load(b)
    same = len(x["edits"]) == len(y["edits"]) and all(
        la == lb and torch.equal(na, nb) and torch.equal(da, db)
        for (la, na, da), (lb, nb, db) in zip(x["edits"], y["edits"], strict=True))
    tokens = x["tokens"] == y["tokens"]
    return (f"edits bit for bit: {'same' if same else 'DIFFERENT'}; token reports (ranks before "
            f"and after, neurons per layer): {'same' if tokens else 'DIFFERENT'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ssns", type=int, default=5, help="SSNs timed one by one")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--edits", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.ssns, args.threads, args.edits)
        return

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        trees = {"before": extract(args.before, scratch / "before"), "after": ROOT}
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for repeat in range(args.repeats):
            for side in ("before", "after"):
                runs[side].append(_measure(trees[side], args, scratch / f"{side}.pt"))
                print(f"  repeat {repeat + 1}/{args.repeats} {side}: "
                      f"{statistics.median(runs[side][-1]['alone']):.2f} s alone, "
                      f"{runs[side][-1]['sequence']:.2f} s per SSN in sequence", flush=True)
        agreement = _same_edits(scratch / "before.pt", scratch / "after.pt")

    def median(side: str, key: str) -> float:
        values = [v for run in runs[side] for v in
                  (run[key] if isinstance(run[key], list) else [run[key]])]
        return statistics.median(values)

    rows = [("seconds per SSN alone (median)", "alone", "{:.2f}"),
            ("seconds per SSN, 20 in sequence", "sequence", "{:.3f}"),
            ("forward passes per SSN alone", "alone_passes", "{:.2f}"),
            ("forward passes per SSN in sequence", "sequence_passes", "{:.2f}"),
            ("GFLOP per SSN alone (one SSN)", "alone_gflop", "{:.0f}"),
            ("GFLOP per SSN in sequence", "sequence_gflop", "{:.0f}"),
            ("peak RSS of the process, MiB", "peak_total_mib", "{:.0f}"),
            ("... growth while editing, MiB", "peak_mib", "{:.0f}")]
    threads = runs["after"][0]["threads"]
    print(f"\nREVSConfig() defaults on the SSN testbed, torch threads {threads}; "
          f"{args.ssns} SSNs alone x {args.repeats} runs, 20 in sequence x {args.repeats} runs; "
          f"before = {args.before}, after = this checkout")
    print(f"{'':<42}{'before':>10}{'after':>10}{'before/after':>14}")
    for label, key, form in rows:
        before, after = median("before", key), median("after", key)
        ratio = f"{before / after:.2f}x" if after else "-"
        print(f"{label:<42}{form.format(before):>10}{form.format(after):>10}{ratio:>14}")
    print(agreement)


if __name__ == "__main__":
    main()
