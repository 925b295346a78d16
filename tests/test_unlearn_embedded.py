"""REVS on the embedded SmolLM2-135M: a fact, a patch round trip, the commands, the testbed."""

import csv
import json

import pytest
import torch

import revs
from revs.cli import main
from revs.data.records import Record
from revs.evaluation.generation import greedy_continuations
from revs.experiments import tuning
from revs.layout import neuron_weights

pytestmark = pytest.mark.integration

FACT = Record("fact", "fact", "The capital of France is", " Paris")


def _mlp_weights(model):
    return [neuron_weights(model, layer).clone() for layer in range(30)]


def test_unlearning_a_fact_demotes_it_and_reverts_exactly(embedded):
    model, tokenizer = embedded
    before = _mlp_weights(model)
    result = revs.unlearn(model, tokenizer, [FACT], progress=False)
    try:
        (token,) = result.tokens
        assert token.text == " Paris" and token.rank_before == 0
        assert token.rank_after >= 100, token
        assert result.edits and result.n_neurons == sum(result.neurons_per_layer().values())
        text = greedy_continuations(model, tokenizer, [FACT.prompt],
                                    max_new_tokens=5)[0]
        assert "Paris" not in text
    finally:
        revs.revert_edits_(model, result.edits)
    assert all(torch.equal(a, b) for a, b in zip(before, _mlp_weights(model), strict=True))


def test_commands_unlearn_then_apply(tmp_path, capsys):
    targets = tmp_path / "secrets.csv"
    with open(targets, "w", newline="") as handle:
        csv.writer(handle).writerows([["prompt", "secret"], [FACT.prompt, "Paris"]])
    patch_path = tmp_path / "fact.safetensors"
    assert main(["unlearn", "--targets", str(targets), "--out", str(patch_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tokens"][0]["rank_after"] >= 100 and summary["seconds_per_target"] > 0
    assert b"Paris" not in patch_path.read_bytes()

    edited_dir = tmp_path / "edited"
    assert main(["apply", "--patch", str(patch_path), "--out", str(edited_dir)]) == 0
    model, tokenizer = revs.load_model(edited_dir)
    fresh, _ = revs.load_model()
    patch = revs.load_patch(patch_path)
    patch.apply_(fresh)  # the same edits on a fresh copy give the saved model's weights
    assert all(torch.equal(a, b) for a, b in
               zip(_mlp_weights(model), _mlp_weights(fresh), strict=True))
    with pytest.raises(ValueError, match="another model"):
        patch.apply_(model)  # already edited: refused, weights untouched
    assert patch.covers(Record("row-0", "user", FACT.prompt, " Paris"))

    capsys.readouterr()
    assert main(["apply", "--patch", str(tmp_path / "secrets.csv"), "--out",
                 str(tmp_path / "out")]) == 2
    assert "not a readable revs patch" in capsys.readouterr().err


def test_unlearn_command_on_the_smoke_testbed(capsys, tmp_path, monkeypatch):
    """The CI-sized SSN testbed (4 people): forget 2 SSNs, keep the other 2.

    With REVS's defaults (no stored sweep): the SSN sweep's choice may forget less by design
    (every setting scores specificity 0 there, and the tie-break takes the lowest perplexity).
    """
    monkeypatch.setattr(tuning, "HPARAMS_DIR", tmp_path)
    assert main(["unlearn", "--dataset", "ssn", "--subjects", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_forget"] == 2 and report["n_retain"] == 10
    assert report["efficacy"] >= 0.95 and report["leaked_forget"] == 0, report
    for key in ("generality", "specificity", "seconds_per_target"):
        assert 0 <= report[key], report
    # The lost records are those specificity misses (every retained SSN was emitted before).
    assert report["retain_emitted_before"] == report["n_retain"]
    assert report["retain_lost_records"] == round((1 - report["specificity"]) * report["n_retain"])
    assert len(report["retain_lost"]) >= report["retain_lost_sharing"]
    assert report["retain_lost_sharing"] <= report["retain_sharing"] == 2  # SSNs share digits


def test_unlearn_and_evaluate_commands_give_the_same_scores(capsys):
    """One scoring path: with the same seed, settings and --set, the two commands agree.

    ``token_method=last`` edits other tokens than the scored (``rarest``) ones: before the
    scores were composed in one place, ``revs unlearn`` scored the edited tokens instead.
    """
    common = ["--dataset", "ssn", "--subjects", "4", "--seed", "0", "--smoke",
              "--set", "token_method=last", "--json"]
    assert main(["unlearn", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--method", "revs", "--seeds", "0", "--no-cache", *common]) == 0
    rows = json.loads(capsys.readouterr().out)
    evaluated = {(row["metric"], row["k"]): row["value"] for row in rows}
    for metric in ("efficacy", "generality", "unlearning_score"):
        assert report[metric] == evaluated[(metric, 100)], metric
    assert report["specificity"] == evaluated[("specificity", None)]
    assert report["config"]["token_method"] == "last"
