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
