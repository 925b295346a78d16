"""Benchmark the embedded model's set-up costs and the vocabulary projection.

Prints medians over several runs of: cold load (dequantizing the GGUF file into an empty cache),
cached load, the pseudo-inverse of the unembedding, and projecting all neurons of one layer to the
vocabulary then ranking one token in each; and the perplexity on a fixed English text.

    python benchmarks/bench_model.py [--runs 5] [--cold-runs 3]
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
from transformers.utils import logging as hf_logging

import revs
from revs.evaluation.metrics import perplexity
from revs.vocab import VocabProjection

# A fixed passage of plain English prose written for this benchmark.
ENGLISH = (
    "The village sat at the edge of a wide valley, where the river slowed and spread into shallow "
    "pools before turning south toward the sea. In the spring the fields were green and wet, and "
    "the farmers waited for the ground to dry before they planted their crops. Most families kept "
    "a few animals: chickens for eggs, a goat or two for milk, and sometimes a horse that pulled "
    "the plough and carried goods to the market in town. The market was held every Saturday in "
    "the square in front of the old church. People came from the farms around the valley to sell "
    "vegetables, bread, cheese and wool, and to hear the news from the city. Children ran between "
    "the stalls while their parents talked about the weather, the price of grain and the new road "
    "that the government had promised to build. Nobody believed that the road would really come, "
    "because the same promise had been made many times before, but everyone liked to talk about "
    "it. In the evening the square emptied, the lamps were lit, and the only sound was the river."
)


def timed(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def cold_load():
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("REVS_CACHE_DIR")
        os.environ["REVS_CACHE_DIR"] = cache
        try:
            revs.load_model()
        finally:
            if previous is None:
                del os.environ["REVS_CACHE_DIR"]
            else:
                os.environ["REVS_CACHE_DIR"] = previous


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--layer", type=int, default=15)
    args = parser.parse_args()
    hf_logging.disable_progress_bar()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    revs.load_model()  # make sure the cache exists before timing the cached load
    rows = []
    rows.append(("cold load (GGUF -> float32, empty cache)", *timed(cold_load, args.cold_runs)))
    rows.append(("cached load (safetensors)", *timed(revs.load_model, args.runs)))

    model, tokenizer = revs.load_model()
    rows.append(("pinv of the unembedding [49152 x 576]",
                 *timed(lambda: VocabProjection(model).pinv, args.runs)))

    neurons = revs.neuron_weights(model, args.layer)  # [d_mlp, d_model]
    target = tokenizer(" Paris", add_special_tokens=False).input_ids[-1]

    def project_and_rank():
        logits = revs.project_to_vocab(model, neurons)  # [d_mlp, d_vocab]
        return revs.token_rank(logits, target)  # [d_mlp]

    rows.append((f"project {neurons.shape[0]} neurons to vocab + rank one token",
                 *timed(project_and_rank, args.runs)))
    rows.append(("  of which: project only",
                 *timed(lambda: revs.project_to_vocab(model, neurons), args.runs)))

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  median s  runs")
    for name, median, times in rows:
        print(f"{name:<{width}}  {median:8.3f}  " + " ".join(f"{t:.3f}" for t in times))
    n_tokens = len(tokenizer(ENGLISH, add_special_tokens=False).input_ids)
    print(f"perplexity on a fixed English passage ({n_tokens} tokens): "
          f"{perplexity(model, tokenizer, ENGLISH):.2f}")


if __name__ == "__main__":
    main()
