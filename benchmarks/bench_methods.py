"""How long each unlearning method takes per forgotten secret, measured in one run.

For every registered method (the tuned settings of data/hparams where a sweep stored them, else
the defaults): load the memorized SSN testbed afresh, unlearn the first ``--secrets`` forget SSNs
of split seed 0 together, and time the method call (``MethodRun.seconds``: no loading, no
scoring). Repeated ``--repeats`` times; prints the median seconds per secret, the spread, and the
ratio of each median to REVS's median from the same run. MEMIT's key statistics are computed
once per model and cached on disk before timing (the first use pays them: printed separately).

Usage: python benchmarks/bench_methods.py [--secrets 20] [--repeats 3] [--methods ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=20, help="forget SSNs per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method")
    parser.add_argument("--methods", nargs="+", default=None, help="default: all but unedited")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from revs.data import load_dataset, split_records
    from revs.experiments.testbed import memorize
    from revs.experiments.tuning import tuned_config
    from revs.methods import METHODS, get_method
    from revs.methods.memit import MEMITConfig
    from revs.methods.second_moments import key_second_moments

    methods = args.methods or [name for name in METHODS if name != "unedited"]
    if "revs" not in methods:
        methods = ["revs", *methods]
    records = load_dataset("ssn")
    forget = list(split_records(records, 0).forget[: args.secrets])
    warnings.simplefilter("ignore")

    configs = {name: tuned_config(name) or get_method(name).default_config() for name in methods}
    for name, config in configs.items():
        if isinstance(config, MEMITConfig):
            memorized = memorize(records)
            start = time.perf_counter()
            key_second_moments(memorized.model, memorized.tokenizer, config.layers,
                               n_tokens=config.mom2_tokens)
            print(f"{name}: key statistics ready in {time.perf_counter() - start:.1f} s "
                  "(computed once per model and cached)")

    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name in methods:  # interleaved, so drifts in machine speed hit every method alike
            memorized = memorize(records)
            run = get_method(name)(memorized.model, memorized.tokenizer, forget,
                                   config=configs[name])
            seconds[name].append(run.seconds / len(forget))

    reference = statistics.median(seconds["revs"])
    print(f"\n{len(forget)} SSNs per run, {args.repeats} runs per method, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':16} {'median s/secret':>16} {'min':>8} {'max':>8} {'x REVS':>8}")
    for name in methods:
        median = statistics.median(seconds[name])
        print(f"{name:16} {median:16.2f} {min(seconds[name]):8.2f} {max(seconds[name]):8.2f} "
              f"{median / reference:8.2f}")


if __name__ == "__main__":
    main()
