"""Are there MLP neurons specific to one memorized SSN? Why REVS is not specific here.

For each forget SSN of the split, at the token REVS would demote, this reads every MLP neuron's
activation on the forget prefix and on the prefixes of every other SSN of the testbed (all digit
positions) and prints, per layer group:

- ``top30 bg/fg``: median over the 30 most activated neurons of (largest |activation| on another
  SSN's context) / (activation here). Near or above 1: the neurons REVS selects fire as much
  when any SSN is written.
- ``specific``: neurons that fire at least twice as much here as on any other SSN context and
  rank the token in their top 1,000 (what a specific edit would need).
- ``ridge max/med``: a ridge-whitened *combination* of all neurons fitted to be silent on half of
  the other SSNs (``c = (A'A + 0.1 I)^-1 a``), scored on the other half: largest and median
  |response| relative to the forget prefix. Small values: specificity lives in the population of
  neurons, not in single neurons.

Usage: python benchmarks/neuron_specificity.py [--seed 0] [--token-method last] [--targets 5]
"""

from __future__ import annotations

import argparse
import dataclasses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-method", default="last")
    parser.add_argument("--targets", type=int, default=5, help="forget SSNs to analyse")
    args = parser.parse_args()

    import torch

    from revs import REVSConfig
    from revs.data import load_dataset, split_records
    from revs.experiments.testbed import memorize
    from revs.hooks import last_token_activations
    from revs.layout import decoder_layers, get_layout, neuron_weights
    from revs.unlearn import plan_tokens
    from revs.vocab import token_rank, vocab_projection

    records = load_dataset("ssn")
    memorized = memorize(records)
    model, tokenizer = memorized.model, memorized.tokenizer
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    projection = vocab_projection(model)
    split = split_records(records, args.seed)
    config = REVSConfig(token_method=args.token_method, max_tokens=1)
    every = dataclasses.replace(config, max_tokens=None, token_method="first")
    secrets = sorted({r.target for r in records})
    by_secret = {s: next(r for r in records if r.target == s) for s in secrets}

    def activations(prefixes: list) -> torch.Tensor:  # [n_layers, n, d_mlp]
        return last_token_activations(model, prefixes, pad_id=tokenizer.pad_token_id or 0).float()

    contexts = [(s, t) for s in secrets for _, t in plan_tokens(tokenizer, [by_secret[s]], every)]
    background = activations([t.prefix_ids for _, t in contexts])
    groups = [range(g, min(g + 6, n_layers)) for g in range(0, n_layers, 6)]
    print("| target | token | layers | top30 bg/fg | specific | ridge max/med |")
    print("|---|---|---|---|---|---|")
    for record in split.forget[: args.targets]:
        (_, token), = plan_tokens(tokenizer, [record], config)
        here = activations([token.prefix_ids])[:, 0]  # [n_layers, d_mlp]
        others = [j for j, (s, _) in enumerate(contexts) if s != record.target]
        fit, held_out = others[0::2], others[1::2]
        for group in groups:
            ratios, specific, worst, median = [], 0, [], []
            for layer in group:
                a, bg = here[layer], background[layer][others]
                peak = bg.abs().amax(0)  # [d_mlp]
                top = torch.topk(a, 30).indices
                ratios.append((peak[top] / a[top].clamp_min(1e-6)).median())
                mask = (a > 2 * peak) & (a > 0.5)
                if mask.any():
                    idx = mask.nonzero().flatten()
                    rows = neuron_weights(model, layer, layout)[idx]
                    specific += int((token_rank(projection.project(rows), token.token_id)
                                     < 1000).sum())
                train = background[layer][fit].double()
                gram = train.T @ train + 0.1 * torch.eye(train.shape[1], dtype=torch.double)
                c = torch.linalg.solve(gram, a.double())
                response = (background[layer][held_out].double() @ c).abs() / (a.double() @ c)
                worst.append(response.max())
                median.append(response.median())
            print(f"| {record.target.strip()} | {token.text!r} | {group.start}-{group.stop - 1} "
                  f"| {torch.stack(ratios).median():.2f} | {specific} "
                  f"| {torch.stack(worst).median():.2f} / {torch.stack(median).median():.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
