"""Token rules as data, token sharing between secrets, ``revs check`` and the placebo method."""

import json

import pytest
import torch
from conftest import FORCE, TINY_CONFIGS, build_tiny_model

from revs.cli import main
from revs.config import REVSConfig
from revs.data.records import Record, Split
from revs.edit import apply_edits_, revert_edits_
from revs.layout import neuron_weights
from revs.methods import get_method
from revs.methods.placebo import moved_to_random_neurons
from revs.sharing import (
    corpus_document_share,
    crowded_tokens,
    damage_by_sharing,
    preflight,
    shared_tokens,
    token_sharing,
)
from revs.unlearn import unlearn


def _split(forget, retain):
    return Split(forget=tuple(forget), generality=(), retain=tuple(retain))


def test_token_sharing_counts_retained_secrets_holding_a_forgotten_secrets_token(byte_tokenizer):
    # Bytes: the two rarest of "zq-77" are "z" and "q"; "bz" holds "z", "ab" holds none.
    forget = [Record("f", "k", "id:", " zq-77", rule="ssn")]
    retain = [Record("r1", "k", "id:", " bz"), Record("r1", "k2", "no:", " bz"),
              Record("r2", "k", "id:", " ab")]
    rows = shared_tokens(byte_tokenizer, _split(forget, retain))
    assert [(r.subject, r.shared) for r in rows] == [("r1", ("z",)), ("r2", ())]
    assert token_sharing(byte_tokenizer, _split(forget, retain)) == 0.5
    # With three tokens "7" is picked too, and "7" is in neither: the same share.
    assert token_sharing(byte_tokenizer, _split(forget, retain), REVSConfig(max_tokens=3)) == 0.5


def test_damage_sets_lost_subjects_against_the_tokens_they_share(byte_tokenizer):
    # "r1" holds the forgotten "z" and loses a record; "r2" shares nothing and loses one too;
    # "r3" was never emitted, so its "after" does not count as a loss.
    forget = [Record("f", "k", "id:", " zq-77", rule="ssn")]
    retain = [Record("r1", "k", "id:", " bz"), Record("r1", "k2", "no:", " bz"),
              Record("r2", "k", "id:", " ab"), Record("r3", "k", "id:", " cz")]
    split = _split(forget, retain)
    damage = damage_by_sharing(byte_tokenizer, split, None, [True, True, True, False],
                               [True, False, False, False])
    assert [(r.subject, r.shared) for r in damage.lost] == [("r1", ("z",)), ("r2", ())]
    assert (damage.records_lost, damage.lost_sharing, damage.sharing, damage.subjects) == \
        (2, 1, 2, 3)
    assert damage.reading() == ("2 of 3 retained subjects lost (2 records); 1 of them hold a "
                                "token picked for a forgotten secret, as do 2 of the 3")
    untouched = damage_by_sharing(byte_tokenizer, split, None, [True] * 4, [True] * 4)
    assert untouched.lost == () and untouched.reading().startswith("no retained subject lost")
    with pytest.raises(ValueError, match="one value per retained record"):
        damage_by_sharing(byte_tokenizer, split, None, [True], [True])


def test_the_rule_decides_what_is_shared(byte_tokenizer):
    # The same two addresses share their domain; under the e-mail rule only local parts count.
    forget = [Record("f", "k", "at", " qz@mail.test", rule="email")]
    retain = [Record("r", "k", "at", " ab@mail.test", rule="email")]
    assert token_sharing(byte_tokenizer, _split(forget, retain), REVSConfig(max_tokens=None)) == 0
    as_secret = [Record("f", "k", "at", " qz@mail.test", rule="secret")]
    assert token_sharing(byte_tokenizer, _split(as_secret, retain),
                         REVSConfig(max_tokens=None)) == 1


def test_crowded_tokens_warn_when_one_token_is_picked_for_most_secrets(byte_tokenizer):
    records = [Record(f"s{i}", "k", "code:", f" z{i}", rule="secret") for i in range(4)]
    (message,) = crowded_tokens(byte_tokenizer, records, REVSConfig(max_tokens=1))
    assert "'z' is picked for the secrets of 4 of the 4 subjects" in message
    distinct = [Record(f"s{i}", "k", "code:", f" {c}1", rule="secret")
                for i, c in enumerate("wxyz")]
    assert crowded_tokens(byte_tokenizer, distinct, REVSConfig(max_tokens=1)) == []


def test_preflight_counts_other_secrets_and_corpus_documents(byte_tokenizer):
    records = [Record("a", "k", "id:", " zq"), Record("b", "k", "id:", " zx")]
    report = preflight(byte_tokenizer, records, ["row 1", "row 2"], REVSConfig(max_tokens=1),
                       documents=["a z b", "nothing", "q q"])
    assert [(r.label, r.token.text, r.other_secrets) for r in report.tokens] == [
        ("row 1", "z", 1), ("row 2", "z", 1)]
    assert report.tokens[0].corpus_share == pytest.approx(1 / 3)
    assert any("picked for the secrets of 2 of the 2" in w for w in report.warnings)
    assert any("of the corpus's documents" in w for w in report.warnings)
    assert corpus_document_share(byte_tokenizer, [ord("q")], ["q q", "x"]) == {ord("q"): 0.5}


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_placebo_moves_each_edit_to_other_neurons_of_its_layer(arch, byte_tokenizer):
    model = build_tiny_model(arch)
    targets = [Record("a", "ssn", "The number of Ann is", " 915-11-1364", rule="ssn")]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = unlearn(model, byte_tokenizer, targets, FORCE, progress=False)
    revert_edits_(model, result.edits)
    moved = moved_to_random_neurons(model, result.edits, seed=0)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # not applied
    again = moved_to_random_neurons(model, result.edits, seed=0)
    assert all(torch.equal(a.neurons, b.neurons) for a, b in zip(moved, again, strict=True))
    for real, fake in zip(result.edits, moved, strict=True):
        assert fake.layer == real.layer and torch.equal(fake.delta, real.delta)
        touched = {n for e in result.edits if e.layer == real.layer for n in e.neurons.tolist()}
        assert not set(fake.neurons.tolist()) & touched  # never a neuron REVS chose
    apply_edits_(model, moved)
    for edit in moved:
        rows = neuron_weights(model, edit.layer)
        assert rows[edit.neurons].shape == edit.delta.shape
    revert_edits_(model, moved)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_the_placebo_method_changes_as_many_rows_as_revs(byte_tokenizer):
    targets = [Record("a", "ssn", "The number of Ann is", " 915-11-1364", rule="ssn")]
    real, fake = build_tiny_model("llama"), build_tiny_model("llama")
    base = build_tiny_model("llama")
    get_method("revs")(real, byte_tokenizer, targets, config=FORCE, seed=0)
    run = get_method("random-neurons")(fake, byte_tokenizer, targets, config=FORCE, seed=0)

    def changed(model):  # (layer, neuron) pairs whose row differs from the base model's
        return {(layer, i) for layer in range(base.config.num_hidden_layers)
                for i in (neuron_weights(model, layer) != neuron_weights(base, layer))
                .any(-1).nonzero().flatten().tolist()}

    assert len(changed(real)) == len(changed(fake)) == run.details["neurons_edited"] > 0
    assert not changed(real) & changed(fake)
    assert {layer for layer, _ in changed(real)} == {layer for layer, _ in changed(fake)}


@pytest.mark.integration
def test_revs_check_prints_tokens_sharing_and_warnings(tmp_path, capsys):
    path = tmp_path / "secrets.csv"
    rows = ["prompt,secret,rule", "Ann's SSN:,915-11-1364,ssn", "Bob's SSN:,915-12-1064,ssn",
            "Mail Ann at,elowen.marchbank@brackenfold.test,email"]
    path.write_text("\n".join(rows) + "\n")
    assert main(["check", "--targets", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["secrets"] == 3 and report["corpus_documents"] > 1000
    by_row = {}
    for token in report["tokens"]:
        by_row.setdefault(token["row"], []).append(token)
    mail = by_row["secrets.csv, row 3"]
    assert {t["rule"] for t in mail} == {"email"}
    assert all("@" not in t["token"] and "brack" not in t["token"] for t in mail)
    assert by_row["secrets.csv, row 1"][0]["other_secrets"] == 1  # "9" is in Bob's SSN too
    assert "picked for the secrets of 2 of the 3 subjects" in err
    assert main(["check", "--targets", str(path)]) == 0
    assert "row 3" in capsys.readouterr().out
