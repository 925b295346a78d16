"""The ``revs`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    """Print what revs sees in a model: its layout row and dimensions."""
    from dataclasses import asdict

    from .layout import dimensions, get_layout
    from .model import load_model

    model, tokenizer = load_model(args.model)
    facts = {
        "model_type": model.config.model_type,
        **dimensions(model),
        "dtype": str(model.dtype).removeprefix("torch."),
        "tokenizer_vocab": len(tokenizer),
        "layout": asdict(get_layout(model)),
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            if key == "layout":
                for part, path in value.items():
                    print(f"  layout.{part:<18} {path}")
            else:
                print(f"{key:<20} {value}")
    return 0


def _mine(args: argparse.Namespace) -> int:
    """Mine the URLs and e-mail addresses that the embedded model reproduces from context."""
    from .data.natural import mine, save_natural
    from .model import load_model

    model, tokenizer = load_model()
    report = mine(model, tokenizer, max_candidates=args.max_candidates,
                  batch_size=args.batch_size, check_rejected=args.check_rejected)
    if args.out:
        save_natural(report, args.out)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        if args.out:
            print(f"wrote {len(report.records)} records to {args.out}")
    return 0


def _testbed(args: argparse.Namespace) -> int:
    """Build or load a memorizing model and report how well it memorized."""
    from .testbed import testbed_report

    report = testbed_report(args.dataset, seed=args.seed, n_subjects=args.subjects)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.dataset}: {report['n_records']} records, split seed {args.seed}")
    for part in ("forget", "generality", "retain"):
        if f"{part}_exact" in report:
            print(f"  exact memorization, {part:<10} {report[f'{part}_exact']:7.1%}")
    print(f"  perplexity (held-out corpus) {report['ppl_before']:.2f} -> {report['ppl_after']:.2f}"
          f" ({report['ppl_increase']:+.1%})")
    print(f"  {report['epochs']} epochs, training {report['training_seconds']:.0f} s; "
          f"this command {report['seconds']:.0f} s")
    print(f"  checkpoint: {report['checkpoint']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``revs`` command."""
    parser = argparse.ArgumentParser(
        prog="revs",
        description="Unlearn sensitive strings from a language model by rank editing in the "
        "vocabulary space (REVS).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="show a model's layout and dimensions")
    info.add_argument("--model", default=None,
                      help="local Hugging Face model folder (default: the embedded SmolLM2-135M)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_info)

    mine = commands.add_parser(
        "mine", help="find URLs and e-mail addresses the embedded model reproduces verbatim",
        description="Scan the text shipped with this Python environment for URLs and e-mail "
        "addresses and keep those that the embedded model reproduces by greedy decoding from "
        "their context (addresses are redacted in the output).",
    )
    mine.add_argument("--json", action="store_true", help="print JSON")
    mine.add_argument("--out", default=None,
                      help="write the kept records to this CSV (default: write nothing)")
    mine.add_argument("--max-candidates", type=int, default=1000,
                      help="most candidates the model checks (default: 1000, a few minutes)")
    mine.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass")
    mine.add_argument("--check-rejected", action="store_true",
                      help="also check candidates that the context rules reject")
    mine.set_defaults(handler=_mine)

    testbed = commands.add_parser(
        "testbed", help="build or load a model that memorized a dataset, and measure it",
        description="Fine-tune the embedded model until greedy decoding reproduces every secret "
        "of the dataset (first use; cached afterwards) and report exact memorization on the "
        "paper's forget / generality / retain split, perplexity before and after, and time.",
    )
    testbed.add_argument("--dataset", required=True, choices=["ssn", "emails", "urls"])
    testbed.add_argument("--subjects", type=int, default=40,
                         help="subjects, x 5 records each (paper: 40; fewer to smoke-test)")
    testbed.add_argument("--seed", type=int, default=0, help="seed of the forget/retain split")
    testbed.add_argument("--json", action="store_true", help="print JSON")
    testbed.set_defaults(handler=_testbed)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``revs`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except (FileNotFoundError, ModuleNotFoundError, NotImplementedError, ValueError) as error:
        print(f"revs: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
