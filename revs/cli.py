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
    from .data.natural import save_natural
    from .experiments.mining import mine
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
    from .experiments.testbed import testbed_report

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


def _warn(message: str) -> None:
    print(f"revs: warning: {message}", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    """Before any edit: each secret's picked tokens, who else holds them, and the warnings."""
    from .data.corpus import general_corpus
    from .preflight import check_targets, model_facts, settings
    from .sharing import preflight

    config = settings(args.set)
    tokenizer, dims = model_facts(args.model)
    targets = check_targets(args.targets, tokenizer, dims, config=config)
    documents = general_corpus("train") + general_corpus("heldout")
    report = preflight(tokenizer, targets.records, targets.labels, config, documents)
    rule_of = {label: r.rule for label, r in zip(targets.labels, targets.records, strict=True)}
    if args.json:
        print(json.dumps({
            "secrets": report.n_secrets,
            "corpus_documents": len(documents),
            "tokens": [{"row": row.label, "rule": rule_of[row.label], "token": row.token.text,
                        "token_id": row.token.token_id, "position": row.token.position,
                        "other_secrets": row.other_secrets, "corpus_share": row.corpus_share}
                       for row in report.tokens],
            "warnings": report.warnings,
        }, indent=2))
    else:
        print(f"{report.n_secrets} secrets; the tokens each one's rule and the settings pick, the "
              f"other secrets of the file that hold them, and the share of the {len(documents)} "
              "corpus documents that do:")
        for row in report.tokens:
            print(f"  {row.label}: {row.token.text!r} (position {row.token.position}) in "
                  f"{row.other_secrets} other secret(s), {row.corpus_share:.1%} of documents")
    for message in report.warnings:
        _warn(message)
    return 0


def _unlearn(args: argparse.Namespace) -> int:
    """Unlearn secrets from a model (a file of targets) or from a testbed (a dataset's split)."""
    from .paths import check_output_file
    from .preflight import check_settings, settings

    if args.targets:
        return _unlearn_targets(args, settings(args.set))
    from .experiments.tuning import tuned_config

    config = settings(args.set, base=tuned_config("revs", args.model, args.dataset))
    if args.save_model:
        raise ValueError("--save-model saves a model edited from --targets; a testbed run writes "
                         "its edits as a patch (--out)")
    if args.dtype != "float32" or args.device != "cpu":
        raise ValueError("--dtype and --device place a model given with --targets; a testbed "
                         "is the float32 model that memorized it, on the CPU")
    out = check_output_file(args.out) if args.out else None
    check_settings(config, args.model)
    from .experiments.runner import unlearn_testbed

    report = unlearn_testbed(args.dataset, seed=args.seed, config=config, model=args.model,
                             settings=_settings(args), k=args.k, progress=not args.json,
                             patch_path=out)
    for message in report["warnings"]:
        _warn(message)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"REVS on the {args.dataset} testbed, split seed {args.seed}: "
          f"{report['n_forget']} secrets forgotten, k = {args.k}")
    for key in ("efficacy", "generality", "generality_output", "specificity",
                "unlearning_score"):
        if report[key] is not None:
            print(f"  {key:<22} {report[key]:.3f}")
    print(f"  token rule {', '.join(report['rule'])}; token sharing "
          f"{report['token_sharing']:.2f} (retained secrets holding a forgotten one's token)")
    print(f"  damage: {report['damage']}")
    print(f"  greedy leaks: {report['leaked_forget']} of {report['n_forget']} forget prompts,"
          f" {report['leaked_generality']} of {report['n_generality']} generality prompts")
    print(f"  {report['neurons_edited']} neurons in {report['layer_edits']} layer edits; "
          f"{report['seconds_per_target']:.2f} s per secret")
    if args.out:
        print(f"  patch: {args.out}")
    return 0


def _unlearn_targets(args: argparse.Namespace, config) -> int:
    """``revs unlearn --targets``: every input checked first; outputs written atomically."""
    import warnings

    from .model import load_model
    from .paths import check_output_file, check_output_folder
    from .preflight import check_targets, model_facts, not_produced
    from .sharing import crowded_tokens
    from .unlearn import unlearn

    if not args.out and not args.save_model:
        raise ValueError("say where the result goes: --out PATCH and/or --save-model DIR")
    placement = _placement(args)
    out = check_output_file(args.out) if args.out else None
    save = check_output_folder(args.save_model, force=args.force) if args.save_model else None
    tokenizer, dims = model_facts(args.model)
    targets = check_targets(args.targets, tokenizer, dims, config=config)
    for message in crowded_tokens(tokenizer, targets.records, config):  # before the weights load
        _warn(message)
    model, tokenizer = load_model(args.model, **placement)
    missing = set(not_produced(model, tokenizer, targets.records))
    for i in sorted(missing):
        _warn(f"{targets.labels[i]}: the model does not write this secret after its prompt "
              "(greedy decoding); " + ("edited anyway (--force)" if args.force
                                       else "not edited (--force edits it anyway)"))
    chosen = [i for i in range(len(targets.records)) if args.force or i not in missing]
    if not chosen:
        raise ValueError(f"nothing to unlearn: the model writes none of the {len(missing)} "
                         "secrets after their prompts; nothing was written")
    with warnings.catch_warnings():  # said below, with the file's row
        warnings.filterwarnings("ignore", message="nothing to unlearn for target")
        result = unlearn(model, tokenizer, [targets.records[i] for i in chosen], config,
                         progress=not args.json)
    skipped = [chosen[j] for j in result.skipped]
    for i in skipped:
        _warn(f"{targets.labels[i]}: no layer needed an edit (its tokens are already demoted, or "
              "no MLP promotes them); not edited")
    unlearned = [i for i in chosen if i not in skipped]
    if not unlearned:
        raise ValueError("nothing was unlearned (see the warnings above); nothing was written")
    if out:
        result.patch.save(out)
    if save:
        _save_model(model, tokenizer, save)
    summary = {
        "targets": len(targets.records),
        "unlearned": len(unlearned),
        "not_produced": [targets.labels[i] for i in sorted(missing)],
        "skipped": [targets.labels[i] for i in skipped],
        "tokens": [{"target": chosen[t.target], "row": targets.labels[chosen[t.target]],
                    "position": t.position, "rank_before": t.rank_before,
                    "rank_after": t.rank_after} for t in result.tokens],
        "neurons_per_layer": result.neurons_per_layer(),
        "seconds": result.seconds,
        "seconds_per_target": result.seconds / len(chosen),
        "dtype": str(model.dtype).removeprefix("torch."),
        "device": str(next(model.parameters()).device),
        "patch": args.out,
        "model_saved": args.save_model,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"unlearned {len(unlearned)} of {len(targets.records)} secrets in {result.seconds:.1f} "
          f"s: {result.n_neurons} neurons in {len(result.edits)} layer edits")
    for token in result.tokens:
        print(f"  {targets.labels[chosen[token.target]]} token {token.text!r} (position "
              f"{token.position}): rank {token.rank_before} -> {token.rank_after}")
    for path, what in ((args.out, "patch"), (args.save_model, "edited model")):
        if path:
            print(f"{what}: {path}")
    return 0


DTYPES = ("float32", "bfloat16", "float16")


def _placement(args: argparse.Namespace) -> dict:
    """``load_model``'s dtype and device (or ``device_map="auto"``) from --dtype and --device."""
    import torch

    placement = {"dtype": getattr(torch, args.dtype)}
    if args.device == "auto":
        placement["device_map"] = "auto"
        return placement
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device!r} is not a device: give cpu, cuda, cuda:N "
                         "or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: this machine has no CUDA device; use --device "
                         "cpu")
    placement["device"] = device
    return placement


def _save_model(model, tokenizer, folder) -> None:
    """Save a model and its tokenizer so that the folder appears complete or not at all."""
    from .paths import atomic_folder

    with atomic_folder(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)


def _settings(args: argparse.Namespace):
    """The scoring settings of ``--smoke``, ``--subjects`` and ``--forget`` (evaluate, unlearn)."""
    import dataclasses

    from .evaluation.scoring import SMOKE, EvalSettings

    settings = SMOKE if args.smoke else EvalSettings()
    if args.subjects:
        settings = dataclasses.replace(settings, n_subjects=args.subjects)
    if args.forget is not None:
        # A file's subject count is known only once it is read: split_records checks it there.
        from .data import SYNTHETIC

        generated = args.dataset in SYNTHETIC if isinstance(args.dataset, str) else all(
            name in SYNTHETIC for name in args.dataset)
        if not generated and args.forget < 1:
            raise ValueError(f"--forget must be at least 1, got {args.forget}")
        if generated and not 0 < args.forget < settings.n_subjects:
            raise ValueError(f"--forget must be between 1 and {settings.n_subjects - 1} for "
                             f"{settings.n_subjects} subjects, got {args.forget}")
        settings = dataclasses.replace(settings, n_forget=args.forget)
    return settings


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate methods on a dataset over seeds; print the aggregated table or JSON rows."""
    import dataclasses

    from .experiments.results import Results
    from .experiments.runner import evaluate, run_config, run_dataset_name
    from .experiments.tuning import SETTINGS_OF
    from .methods import get_method
    from .preflight import check_settings, parse_settings, settings

    for name in args.method:
        get_method(name)
    if args.patch and len(args.method) != 1:
        raise ValueError("--patch evaluates one method's edit: give a single --method")
    settings(args.set)  # a malformed --set fails whichever methods run
    changes = parse_settings(args.set)

    def overrides_of(name: str) -> dict:
        """``--set`` changes REVS's settings, which the placebo shares; no baseline's."""
        return changes if SETTINGS_OF.get(name, name) == "revs" else {}

    for dataset in args.dataset:  # a --set the run's own settings reject fails before any run
        for name in args.method:
            if overrides_of(name):
                try:
                    config, _ = run_config(name, run_dataset_name(dataset), model=args.model,
                                           overrides=overrides_of(name))
                except ValueError as error:
                    raise ValueError(f"--set on the settings {name} runs with on {dataset}: "
                                     f"{error}") from None
                check_settings(config, args.model)
    run_settings = _settings(args)
    if args.k:
        run_settings = dataclasses.replace(run_settings, ks=tuple(args.k))
    results = Results.concat(
        evaluate(name, dataset, args.seeds, model=args.model, overrides=overrides_of(name),
                 patch=args.patch, settings=run_settings, use_cache=not args.no_cache,
                 store=args.store, compute_missing=not args.finished_only)
        for dataset in args.dataset for name in args.method
    )
    if args.out:
        results.save(args.out)
    return _print_results(results, args)


def _report(args: argparse.Namespace) -> int:
    """Print results saved by ``revs evaluate --out`` (several files: one table)."""
    from .experiments.results import Results

    return _print_results(Results.concat(Results.load(path) for path in args.results), args)


def _print_results(results, args: argparse.Namespace) -> int:
    for warning in results.mixed_models():  # on stderr, so --json stays parseable
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(results.to_json()["rows"], indent=1))
        return 0
    if args.wide is not None:
        print(results.wide_text(args.wide))
    else:
        print(results.text())
    for run in results.runs:
        print(f"{run['method']} {run['dataset']} seed {run['seed']}: "
              f"{run['seconds_per_target']:.2f} s per secret "
              f"unlearned, scoring {run['seconds_scoring']:.0f} s")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """Sweep each method's grid on the validation testbed and store the chosen settings."""
    from .experiments.tuning import is_current, sweep
    from .methods import get_method

    for name in args.method:
        get_method(name)
    for name in args.method:
        for dataset in args.dataset:
            if args.skip_current and is_current(name, dataset, args.model):
                print(f"{name} on {dataset}: its stored sweep is current, kept")
                continue
            result = sweep(name, dataset=dataset, model=args.model, reuse=not args.redo_trials)
            print(f"{name} on {dataset}: chose {result['chosen'] or 'the defaults'}")
            for trial in result["trials"]:
                scores = ", ".join(f"{key} {value:.3f}" for key, value in trial["scores"].items())
                print(f"  {trial['overrides'] or 'defaults'}: {scores} "
                      f"({trial['seconds_method']:.0f} s)")
    return 0


def _apply(args: argparse.Namespace) -> int:
    """Apply a saved patch to a freshly loaded model and save the edited model."""
    return _patch_model(args, revert=False)


def _revert(args: argparse.Namespace) -> int:
    """Undo a patch on the model it was applied to and save the restored model."""
    return _patch_model(args, revert=True)


def _patch_model(args: argparse.Namespace, *, revert: bool) -> int:
    from .model import load_model
    from .patch import load_patch
    from .paths import check_output_folder

    out = check_output_folder(args.out, force=args.force)
    patch = load_patch(args.patch)
    model, tokenizer = load_model(args.model)
    # Each checks the model first: refused, and left untouched, if it is not the patch's.
    if revert:
        patch.revert_(model)
        patch.check_model(model)  # restored: the fingerprint the patch was made on
    else:
        patch.apply_(model)
    _save_model(model, tokenizer, out)
    print(f"{'reverted' if revert else 'applied'} {len(patch)} layer edits; model saved to {out}")
    return 0


def _table_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--wide", type=int, nargs="?", const=100, default=None, metavar="K",
                         help="print one line per dataset and method with every metric at K "
                         "(default 100) and the method's rank by unlearning score")
    command.add_argument("--json", action="store_true",
                         help="print the per-seed rows as JSON (method, dataset, seed, k, "
                         "metric, value)")


def build_parser() -> argparse.ArgumentParser:
    from .data import COMPARED, SYNTHETIC

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
    testbed.add_argument("--dataset", required=True, choices=SYNTHETIC)
    testbed.add_argument("--subjects", type=int, default=40,
                         help="subjects, x 5 records each (paper: 40; fewer to smoke-test)")
    testbed.add_argument("--seed", type=int, default=0, help="seed of the forget/retain split")
    testbed.add_argument("--json", action="store_true", help="print JSON")
    testbed.set_defaults(handler=_testbed)

    check = commands.add_parser(
        "check", help="before unlearning: the tokens each secret would lose, and who shares them",
        description="Read a targets file and the model's tokenizer (not its weights) and print, "
        "for each secret, the tokens its token rule and the settings pick, how many of the "
        "file's other secrets contain each, and the share of the offline corpus's documents "
        "that do; warn when a token is picked for more than half of the secrets, or is common "
        "in general text. Nothing is edited or written.",
    )
    check.add_argument("--targets", required=True,
                       help=".csv or .jsonl file with columns prompt and secret (and rule)")
    check.add_argument("--model", default=None,
                       help="local Hugging Face model folder (default: the embedded model)")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a REVS setting, e.g. --set max_tokens=3 (as revs unlearn)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(handler=_check)

    unlearn = commands.add_parser(
        "unlearn", help="unlearn secrets with REVS, from a file of targets or a testbed",
        description="Edit a model so that it no longer produces the given secrets after their "
        "prompts. With --targets, edit a model and write a patch (and/or the edited model). "
        "With --dataset, run on the memorization testbed's forget split and print efficacy, "
        "generality, specificity and time.",
    )
    source = unlearn.add_mutually_exclusive_group(required=True)
    source.add_argument("--targets", help=".csv or .jsonl file with columns prompt and secret")
    source.add_argument("--dataset", choices=SYNTHETIC,
                        help="a testbed: unlearn the forget split of this dataset")
    unlearn.add_argument("--model", default=None,
                         help="local Hugging Face model folder (default: the embedded model)")
    unlearn.add_argument("--dtype", default="float32", choices=DTYPES,
                         help="the model's weights' dtype (--targets; projections are always "
                         "float32; default float32)")
    unlearn.add_argument("--device", default="cpu",
                         help="cpu, cuda, cuda:1, ... or auto (device_map='auto': spread over "
                         "the GPUs there are; --targets; default cpu)")
    unlearn.add_argument("--out", default=None, help="write the patch here (.safetensors)")
    unlearn.add_argument("--save-model", default=None,
                         help="save the edited model to this folder (--targets only)")
    unlearn.add_argument("--force", action="store_true",
                         help="edit secrets the model does not write after their prompt, and "
                         "replace an existing --save-model folder")
    unlearn.add_argument("--seed", type=int, default=0, help="split seed (--dataset)")
    unlearn.add_argument("--subjects", type=int, default=None,
                         help="subjects in the testbed, x 5 records (--dataset; default 40)")
    unlearn.add_argument("--forget", type=int, default=None, metavar="N",
                         help="subjects forgotten at once (--dataset; default half): the more, "
                         "the more tokens they share with the retained ones")
    unlearn.add_argument("--smoke", action="store_true",
                         help="the scoring settings of revs evaluate --smoke (--dataset)")
    unlearn.add_argument("-k", "--k", type=int, default=100,
                         help="rank threshold of the scores (--dataset; default 100)")
    unlearn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="a REVS setting, e.g. --set n_neurons=10 --set "
                         "'neuron_band=[30000,45000]' (repeatable; see revs.REVSConfig)")
    unlearn.add_argument("--json", action="store_true", help="print JSON")
    unlearn.set_defaults(handler=_unlearn)

    evaluate = commands.add_parser(
        "evaluate", help="score unlearning methods on a dataset over seeds (all metrics)",
        description="For each method and seed: load the model (for ssn, emails and urls the "
        "model fine-tuned to memorize them), split the dataset with the seed, unlearn the forget "
        "split and score efficacy, generality, specificity, unlearning score, perplexity, "
        "next-token accuracy, the logit-lens, delta and perturbation attacks, resistance score "
        "and black-box extraction rate at each k. Results are cached by their inputs.",
    )
    evaluate.add_argument("--method", nargs="+", default=["revs"],
                          help="method names, e.g. 'unedited revs' (default: revs)")
    evaluate.add_argument("--dataset", required=True, nargs="+",
                          help="ssn, emails, urls, natural, or a .csv/.jsonl file of records "
                          "(several: one table)")
    evaluate.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                          help="split seeds (default: 0 1 2)")
    evaluate.add_argument("--model", default=None,
                          help="local Hugging Face model folder (default: the embedded model)")
    evaluate.add_argument("--patch", default=None,
                          help="apply this patch instead of running the method")
    evaluate.add_argument("-k", "--k", nargs="+", type=int, default=None,
                          help="rank thresholds (default: 10 50 100 500)")
    evaluate.add_argument("--subjects", type=int, default=None,
                          help="subjects of a generated testbed, x 5 records (default: 40)")
    evaluate.add_argument("--forget", type=int, default=None, metavar="N",
                          help="subjects forgotten at once (default: half)")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="a REVS setting (see revs unlearn --help)")
    evaluate.add_argument("--smoke", action="store_true",
                          help="fast scoring settings (fewer samples and corpus documents)")
    evaluate.add_argument("--no-cache", action="store_true", help="recompute cached runs")
    evaluate.add_argument("--store", default=None, metavar="FOLDER",
                          help="also keep finished runs here, keyed without the source digest, "
                          "and reuse those found (a job that spans sessions: commit the folder)")
    evaluate.add_argument("--finished-only", action="store_true",
                          help="compute nothing: only the runs found in the cache or --store "
                          "(what a long job has finished so far; the others are left out)")
    evaluate.add_argument("--out", default=None, help="also save the results (JSON) here")
    _table_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    report = commands.add_parser(
        "report", help="print results saved by revs evaluate --out",
        description="Print the aggregated table of one or more results files written by "
        "revs evaluate --out (e.g. data/results/comparison-smollm2-135m.json), without "
        "running anything.",
    )
    report.add_argument("results", nargs="+", help="results files (JSON)")
    _table_options(report)
    report.set_defaults(handler=_report)

    sweep = commands.add_parser(
        "sweep", help="choose a method's hyperparameters on each dataset's validation testbed",
        description="Score each setting of the method's grid (revs.experiments.tuning.GRIDS) on "
        "each dataset's validation testbed (generator seed 1: no secret shared with the test "
        "testbeds) and store the best, with every trial, in "
        "data/hparams/<method>-<model>-<dataset>.json; revs evaluate (and revs unlearn "
        "--dataset, for REVS) then use it.",
    )
    sweep.add_argument("--method", nargs="+", required=True,
                       help="method names (revs and the baselines)")
    sweep.add_argument("--dataset", nargs="+", default=list(COMPARED),
                       choices=(*COMPARED, "passphrases"),  # tuning.SWEPT_DATASETS, unimported
                       help="validation testbeds to sweep on (default: all of them)")
    sweep.add_argument("--model", default=None,
                       help="local Hugging Face model folder (default: the embedded model)")
    sweep.add_argument("--skip-current", action="store_true",
                       help="keep a stored sweep made with today's validation settings and grid "
                       "(each sweep is stored as it ends, so an interrupted run resumes)")
    sweep.add_argument("--redo-trials", action="store_true",
                       help="score every setting anew; by default a setting the stored sweep "
                       "scored on today's validation testbed keeps its scores (redo after "
                       "changing a method's code)")
    sweep.set_defaults(handler=_sweep)

    apply = commands.add_parser(
        "apply", help="apply a patch to a model and save the edited model",
        description="Load a model, check that the patch was made for it, apply the patch and "
        "save the edited model with save_pretrained.",
    )
    apply.add_argument("--patch", required=True, help="patch file written by revs unlearn")
    apply.add_argument("--model", default=None,
                       help="local Hugging Face model folder (default: the embedded model)")
    apply.add_argument("--out", required=True, help="folder for the edited model")
    apply.add_argument("--force", action="store_true",
                       help="replace --out if it already holds a model (whole: no stale files)")
    apply.set_defaults(handler=_apply)

    revert = commands.add_parser(
        "revert", help="undo a patch on the model it was applied to and save the restored model",
        description="Load the model revs apply wrote, check that it holds the patch's edits, "
        "restore the original rows bit for bit, check the result is the model the patch was made "
        "on, and save it.",
    )
    revert.add_argument("--patch", required=True, help="patch file written by revs unlearn")
    revert.add_argument("--model", required=True, help="the patched model's folder")
    revert.add_argument("--out", required=True, help="folder for the restored model")
    revert.add_argument("--force", action="store_true", help="replace --out if it holds a model")
    revert.set_defaults(handler=_revert)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``revs`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except (OSError, ModuleNotFoundError, NotImplementedError, ValueError) as error:
        # What a user can cause: a bad file, setting, path or model. Anything else is a bug and
        # keeps its traceback (exit 1).
        print(f"revs: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
