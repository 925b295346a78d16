"""The specificity test's greedy decoding: ``generate`` against rows that stop once out.

Specificity asks whether greedy decoding from each retained prompt (its last 500 characters)
emits the secret within ``max_new_tokens`` tokens. ``model.generate`` decodes every row of a
batch to the end; ``revs.evaluation.metrics.emitted`` now lets a row leave the batch once its
secret is out (``greedy_continuations(..., until=...)``). Prints, alternating the two in one
run, the median seconds of each, their ratio, and whether every record gets the same answer,
on the memorized testbed's retained split (split seed 0) of the unedited model: the case of a
method that keeps its retained secrets (specificity near 1). Where a method makes the model
forget them (REVS on SSNs) every row runs to the end and the two cost the same.

Usage: python benchmarks/bench_specificity.py [--dataset ssn] [--repeats 3] [--tokens 50]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ssn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=50, help="max_new_tokens (official 50)")
    args = parser.parse_args()

    import torch

    from revs.data import load_dataset, split_records
    from revs.evaluation.generation import _generated
    from revs.evaluation.metrics import emitted
    from revs.experiments.testbed import memorize

    records = load_dataset(args.dataset)
    testbed = memorize(records)
    model, tokenizer = testbed.model, testbed.tokenizer
    retain = split_records(records, 0).retain
    prompts = [r.prompt[-500:] for r in retain]
    seconds: dict[str, list[float]] = {"generate": [], "rows stop": []}
    same = True
    for _ in range(args.repeats):
        start = time.perf_counter()
        texts = _generated(model, tokenizer, prompts, max_new_tokens=args.tokens, batch_size=40)
        seconds["generate"].append(time.perf_counter() - start)
        start = time.perf_counter()
        answers = emitted(model, tokenizer, retain, max_new_tokens=args.tokens)
        seconds["rows stop"].append(time.perf_counter() - start)
        reference = [r.target.strip() in p + t for r, p, t in zip(retain, prompts, texts,
                                                                  strict=True)]
        same &= reference == answers.tolist()
    before, after = (statistics.median(seconds[name]) for name in ("generate", "rows stop"))
    print(f"{args.dataset} testbed, unedited, {len(retain)} retained records, {args.tokens} "
          f"tokens, torch threads {torch.get_num_threads()}; medians of {args.repeats} runs")
    print(f"  generate (s)     {before:7.1f}")
    print(f"  rows stop (s)    {after:7.1f}")
    print(f"  generate / rows stop: {before / after:.2f}x; specificity "
          f"{answers.float().mean():.2f}; every record the same answer: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
