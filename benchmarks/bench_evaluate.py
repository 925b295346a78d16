"""How long a full evaluation of one method on one dataset and seed takes, phase by phase.

Runs ``revs.experiments.runner.evaluate`` (no cache) ``--repeats`` times for each method on the
memorized testbed and prints the median seconds of the whole run and of each phase: loading the
memorizing model, the method itself, and the scoring phases (ranks for efficacy, generality,
logit-lens and perturbation attacks; the delta attack; specificity generations; perplexity and
next-token accuracy; black-box extraction with sampling).

Usage: python benchmarks/bench_evaluate.py [--methods unedited revs] [--dataset ssn]
       [--seed 0] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["unedited", "revs"])
    parser.add_argument("--dataset", default="ssn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="the SMOKE scoring settings")
    args = parser.parse_args()

    import torch

    from revs.evaluation.scoring import SMOKE, EvalSettings
    from revs.experiments.runner import evaluate

    settings = SMOKE if args.smoke else EvalSettings()
    warnings.simplefilter("ignore")
    evaluate("unedited", args.dataset, [args.seed], settings=settings)  # builds the testbed once
    print(f"torch threads: {torch.get_num_threads()}; dataset {args.dataset}, seed {args.seed}; "
          f"settings {'SMOKE' if args.smoke else 'EvalSettings()'}; {args.repeats} repeats")
    for method in args.methods:
        totals, phases = [], {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            run = evaluate(method, args.dataset, [args.seed], settings=settings,
                           use_cache=False).runs[0]
            totals.append(time.perf_counter() - start)
            parts = {"method": run["seconds_method"], **run["seconds_by_phase"]}
            parts["loading and the rest"] = totals[-1] - sum(parts.values())
            for name, seconds in parts.items():
                phases.setdefault(name, []).append(seconds)
        print(f"{method}: median {statistics.median(totals):.1f} s per full evaluation "
              f"(min {min(totals):.1f}, max {max(totals):.1f})")
        for name, seconds in phases.items():
            print(f"  {name:<22} {statistics.median(seconds):7.1f} s")


if __name__ == "__main__":
    main()
