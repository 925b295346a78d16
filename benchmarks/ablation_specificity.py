"""What makes REVS edits specific on SmolLM2: an ablation on the memorized SSN testbed.

Each row unlearns the 20 forget SSNs of the split (seed 0 by default) with one setting, on a
fresh copy of the memorizing model, and prints efficacy, generality (worst layer and model
output), specificity, greedy leaks, neurons edited and seconds per SSN. Rows add one change at a
time to the paper's GPT-J demo settings. A row takes a few minutes on 2 cores.

Usage: python benchmarks/ablation_specificity.py [--seed 0] [--rows NAME ...] [--json]
"""

from __future__ import annotations

import argparse
import json

ROWS: dict[str, dict] = {
    "paper demo bands (REVSConfig())": {},
    "Llama-3 bands scaled to V": {"relative": True},
    "N = 5 neurons": {"n_neurons": 5},
    "residual band (150, 1000)": {"residual_band": (150, 1000)},
    "+ layers 15-29": {"residual_band": (150, 1000), "layers": tuple(range(15, 30))},
    "+ contrastive score": {"residual_band": (150, 1000), "layers": tuple(range(15, 30)),
                            "score_method": "contrastive"},
    "+ last token only": {"residual_band": (150, 1000), "layers": tuple(range(15, 30)),
                          "score_method": "contrastive", "token_method": "last",
                          "max_tokens": 1},
    "+ protect the other digits": {"residual_band": (150, 1000), "layers": tuple(range(15, 30)),
                                   "score_method": "contrastive", "token_method": "last",
                                   "max_tokens": 1, "protect_tokens": 9},
    "paper bands + protect the other digits": {"protect_tokens": 9},
}

COLUMNS = ("efficacy", "generality", "generality_output", "specificity", "leaked_forget",
           "neurons_edited", "layer_edits", "seconds_per_target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), help="row names to run")
    parser.add_argument("--json", action="store_true", help="print JSON lines, not a table")
    args = parser.parse_args()

    import warnings

    from revs import REVSConfig
    from revs.experiments.runner import unlearn_testbed

    warnings.simplefilter("ignore")  # "nothing to unlearn" warnings; counted in the report
    print("| setting | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name in args.rows:
        settings = dict(ROWS[name])
        config = REVSConfig()
        if settings.pop("relative", False):
            config = config.with_relative_bands(49_152)
        config = REVSConfig(**{**config.__dict__, **settings})
        report = unlearn_testbed("ssn", seed=args.seed, config=config)
        if args.json:
            print(json.dumps({"setting": name, **{c: report[c] for c in COLUMNS}}))
            continue
        cells = [f"{report[c]:.2f}" if isinstance(report[c], float) else str(report[c])
                 for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
