"""How long a full evaluation takes, phase by phase, today against an earlier revision.

Also whether both give the same numbers.

Runs ``revs.experiments.runner.evaluate`` (no cache) for each method on the memorized testbed,
``--repeats`` times for this checkout ("after") and for ``--before REV`` ("before", a ``git
archive`` of that revision's ``revs/``), alternating, each in its own process; prints the median
seconds of the whole run and of each phase (the method itself; ranks for efficacy, generality and
the logit-lens and perturbation attacks; the delta attack; specificity generations; perplexity and
next-token accuracy; black-box extraction with sampling; loading and the rest), and whether every
metric of the two is the same number.

Usage: python benchmarks/bench_evaluate.py [--methods revs] [--dataset ssn] [--seed 0]
       [--repeats 1] [--smoke] [--before c54fe3e]
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


def _worker(method: str, dataset: str, seed: int, smoke: bool) -> None:
    import time
    import warnings

    import torch

    from revs.evaluation.scoring import SMOKE, EvalSettings
    from revs.experiments.runner import evaluate

    settings = SMOKE if smoke else EvalSettings()
    warnings.simplefilter("ignore")
    evaluate("unedited", dataset, [seed], settings=settings)  # builds or loads the testbed
    start = time.perf_counter()
    results = evaluate(method, dataset, [seed], settings=settings, use_cache=False)
    total = time.perf_counter() - start
    run = results.runs[0]
    phases = {"method": run["seconds_method"], **run["seconds_by_phase"]}
    phases["loading and the rest"] = total - sum(phases.values())
    print(json.dumps({"total": total, "phases": phases, "rows": results.rows,
                      "threads": torch.get_num_threads()}))


def _measure(tree: Path, method: str, args) -> dict:
    command = [sys.executable, __file__, "--worker", "--methods", method, "--dataset",
               args.dataset, "--seed", str(args.seed)] + (["--smoke"] if args.smoke else [])
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"the worker for {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _differences(before: list[dict], after: list[dict]) -> list[str]:
    def table(rows):
        return {(r["metric"], r["k"]): r["value"] for r in rows}

    a, b = table(before), table(after)
    return [f"{metric} k={k}: {a.get((metric, k))} -> {b.get((metric, k))}"
            for metric, k in sorted(set(a) | set(b), key=str)
            if a.get((metric, k)) != b.get((metric, k))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["revs"])
    parser.add_argument("--dataset", default="ssn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="the SMOKE scoring settings")
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.methods[0], args.dataset, args.seed, args.smoke)
        return

    with tempfile.TemporaryDirectory() as scratch:
        trees = {"before": extract(args.before, Path(scratch) / "before"), "after": ROOT}
        for method in args.methods:
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for repeat in range(args.repeats):
                for side in ("before", "after"):
                    runs[side].append(_measure(trees[side], method, args))
                    print(f"  {method} repeat {repeat + 1}/{args.repeats} {side}: "
                          f"{runs[side][-1]['total']:.1f} s", flush=True)
            print(f"\n{method} on {args.dataset}, seed {args.seed}, settings "
                  f"{'SMOKE' if args.smoke else 'EvalSettings()'}, torch threads "
                  f"{runs['after'][0]['threads']}; medians of {args.repeats} run(s) each; "
                  f"before = {args.before}, after = this checkout")
            print(f"  {'':<24}{'before':>9}{'after':>9}{'before/after':>14}")
            names = ["total", *runs["after"][0]["phases"]]
            for name in names:
                before, after = (statistics.median(
                    run["total"] if name == "total" else run["phases"].get(name, 0.0)
                    for run in runs[side]) for side in ("before", "after"))
                ratio = f"{before / after:.2f}x" if after > 0.05 else "-"
                print(f"  {name + ' (s)':<24}{before:>9.1f}{after:>9.1f}{ratio:>14}")
            differences = [d for run_b, run_a in zip(runs["before"], runs["after"], strict=True)
                           for d in _differences(run_b["rows"], run_a["rows"])]
            n_rows = len(runs["after"][0]["rows"])
            print(f"  every metric the same number: {'yes' if not differences else 'NO'} "
                  f"({n_rows} rows per run)")
            for line in differences:
                print(f"    {line}")


if __name__ == "__main__":
    main()
