"""Seconds per secret on the device this runs on (CPU or CUDA), in the weights' dtype asked for.

The same REVS code for every device: weights in ``--dtype`` (the edits are written in it),
vocabulary projections in float32 on the unembedding's device. The model is the memorized SSN
testbed (float32, cast to ``--dtype``) or ``--model``, a local Hugging Face folder, loaded with
``device_map="auto"`` when ``--device auto`` (spread over the GPUs there are). Prints the device,
seconds per SSN alone (median) and in the paper's setting (20 in sequence), and the peak memory
(CUDA: ``max_memory_allocated``; CPU: the process's peak RSS).

Usage: python benchmarks/bench_device.py [--device auto|cpu|cuda] [--dtype bfloat16]
       [--model PATH] [--ssns 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if there is one), cpu, cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--model", default=None, help="local model folder (default: the testbed)")
    parser.add_argument("--ssns", type=int, default=5, help="SSNs timed one by one")
    args = parser.parse_args()

    import torch

    from revs import REVSConfig, load_model, revert_edits_, unlearn, vocab_projection
    from revs.data import load_dataset, split_records
    from revs.experiments.testbed import memorize

    dtype = getattr(torch, args.dtype)
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    records = load_dataset("ssn")
    if args.model:
        placement = ({"device_map": "auto"} if args.device == "auto" and cuda
                     else {"device": "cuda" if cuda else "cpu"})
        model, tokenizer = load_model(args.model, dtype=dtype, **placement)
    else:
        memorized = memorize(records)
        model, tokenizer = memorized.model, memorized.tokenizer
        model.to("cuda" if cuda else "cpu", dtype)
    split = split_records(records, 0)
    config = REVSConfig()
    projection = vocab_projection(model)
    projection.pinv  # noqa: B018 - once per model
    warnings.simplefilter("ignore")
    warm = unlearn(model, tokenizer, split.forget[:1], config, progress=False)
    revert_edits_(model, warm.edits)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def synchronize():
        if cuda:
            torch.cuda.synchronize()

    alone = []
    for record in split.forget[: args.ssns]:
        synchronize()
        start = time.perf_counter()
        result = unlearn(model, tokenizer, [record], config, progress=False)
        synchronize()
        alone.append(time.perf_counter() - start)
        revert_edits_(model, result.edits)
    synchronize()
    start = time.perf_counter()
    batch = unlearn(model, tokenizer, split.forget, config, progress=False)
    synchronize()
    sequence = (time.perf_counter() - start) / len(split.forget)
    revert_edits_(model, batch.edits)

    device = next(model.parameters()).device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = "" if cuda else f", {torch.get_num_threads()} torch threads"
    print(f"device {device} ({name}{threads}); weights {args.dtype}, projections "
          f"{projection.w_unembed.dtype} on {projection.device}; "
          f"model {args.model or 'the memorized SSN testbed'}")
    print(f"  seconds per SSN alone          {statistics.median(alone):.3f} (median of "
          f"{len(alone)}; min {min(alone):.3f}, max {max(alone):.3f})")
    print(f"  seconds per SSN, 20 in sequence {sequence:.3f}")
    print(f"  neurons edited in sequence     {batch.n_neurons} in {len(batch.edits)} layer edits")
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
        print(f"  peak GPU memory                {peak:.0f} MiB")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS of the process        {peak:.0f} MiB")


if __name__ == "__main__":
    main()
