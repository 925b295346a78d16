import csv
import json
from types import SimpleNamespace

import pytest
import torch
from conftest import build_tiny_model
from torch import nn

from revs.cli import main
from revs.data import natural
from revs.data.natural import (
    extract_candidates,
    find_addresses,
    redact,
    rejection_reason,
    save_natural,
    scan_candidates,
)
from revs.data.records import load_records
from revs.evaluation.generation import greedy_matches_ids
from revs.experiments.mining import greedy_matches, mine

# --- Addresses and candidates -------------------------------------------------------------------


def test_find_addresses_strips_trailing_punctuation():
    text = (
        "See https://docs.zorblat.io/en/latest/. Or (https://zorblat.io/a_(b)) and "
        "`the docs <https://zorblat.io/docs>`_, [md](http://zorblat.io/md), "
        '"https://zorblat.io/q?x=1&y=2", https://{host}/template, http://%s/x, '
        "mailto:jane.doe@zorblat.io; <k.lee+tag@mail.kermode.co.uk>. "
        "Ask https://u:p@zorblat.io/x or foo@bar (no domain)."
    )
    assert [(address, kind) for _, address, kind in find_addresses(text)] == [
        ("https://docs.zorblat.io/en/latest/", "url"),
        ("https://zorblat.io/a_(b)", "url"),
        ("https://zorblat.io/docs", "url"),
        ("http://zorblat.io/md", "url"),
        ("https://zorblat.io/q?x=1&y=2", "url"),
        ("jane.doe@zorblat.io", "email"),
        ("k.lee+tag@mail.kermode.co.uk", "email"),
        ("https://u:p@zorblat.io/x", "url"),
    ]


def test_extract_candidates_cuts_prefix_at_a_line_and_moves_the_space():
    text = "first line that is long\nMaintainer: Jane Q <qzv@kermode.io>\nhome: https://zz.io"
    candidates, skipped = extract_candidates(text, "pkg/METADATA", prefix_chars=30)
    assert skipped == 0
    email, url = candidates
    assert (email.prompt, email.target, email.kind) == ("Maintainer: Jane Q <", "qzv@kermode.io",
                                                        "email")
    assert url.prompt == "Q <qzv@kermode.io>\nhome:"  # a line too short: starts at a word
    assert url.target == " https://zz.io" and url.secret == "https://zz.io"
    assert url.source == "pkg/METADATA"
    _, skipped = extract_candidates("x https://zz.io", "s")
    assert skipped == 1  # too little context


def _write_tree(root):
    (root / "pkg-1.0.dist-info").mkdir(parents=True)
    (root / "pkg-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pkg\nAuthor-email: Jane Q <qzv@kermode.io>\n"
        "Home-page: https://example.com/pkg\n"
    )
    (root / "pkg").mkdir()
    header = "# Copyright the authors, see the project page\n# at https://zorblat.io/about\n"
    (root / "pkg" / "a.py").write_text(header + "x = 1\n")
    (root / "pkg" / "b.py").write_text(header + "y = 2\n")  # the same candidate again
    (root / "pkg" / "image.png").write_bytes(b"see https://zorblat.io/png here")
    (root / "pkg" / "README.md").write_text("Binary\x00 with https://zorblat.io/bin inside")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.py").write_text(header)


def test_scan_candidates_dedupes_and_is_deterministic(tmp_path):
    _write_tree(tmp_path / "tree")
    candidates, counts = scan_candidates([("tree", tmp_path / "tree")])
    assert sorted((c.secret, c.source) for c in candidates) == [
        ("https://example.com/pkg", "tree/pkg-1.0.dist-info/METADATA"),
        ("https://zorblat.io/about", "tree/pkg/a.py"),
        ("qzv@kermode.io", "tree/pkg-1.0.dist-info/METADATA"),
    ]
    assert counts["files"] == 3 and counts["duplicates"] == 1 and counts["candidates"] == 3
    assert scan_candidates([tmp_path / "tree"])[0] == [
        natural.Candidate(c.secret, c.kind, c.prompt, c.target, c.source) for c in candidates
    ]
    with pytest.raises(FileNotFoundError, match="no folder"):
        scan_candidates([tmp_path / "missing"])


def test_scan_candidates_caps_prompts_per_secret(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"In document number {i}, see https://zorblat.io/x")
    candidates, counts = scan_candidates([tmp_path], max_prompts_per_secret=2)
    assert len(candidates) == 2 and counts["over_secret_cap"] == 3 and counts["secrets"] == 1
    assert [c.key() for c in candidates] == sorted(c.key() for c in candidates)


# --- Rules and redaction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "secret", "kind", "reason"),
    [
        ("Docs at", "https://www.example.com/x", "url", "reserved_domain"),
        ("Docs at", "http://docs.example.org", "url", "reserved_domain"),
        ("Server at", "http://localhost:8080/api", "url", "reserved_domain"),
        ("Server at", "http://127.0.0.1/", "url", "reserved_domain"),
        ("Mail", "bob@host.test", "email", "reserved_domain"),
        ("Mail", "bob@mail.invalid", "email", "reserved_domain"),
        ("Copied: HTTPS://Zorblat.io/Docs. Again:", "https://zorblat.io/docs", "url", "in_context"),
        ("Our home page:", "https://www.w3.org/", "url", "generic"),
        ("The Zorblat project:", "https://github.com/zorblat/x", "url", "part_in_context"),
        ("Jane Kermode <", "jane.kermode@gmail.com", "email", "part_in_context"),
        ("Jane Kermode <", "janekermode@gmail.com", "email", "spelled_from_context"),
        ("Jane Kermode <", "jkermode@gmail.com", "email", "spelled_from_context"),
        ("from the Zorb.js website (", "https://zorbjs.org", "url", "spelled_from_context"),
        ("<html xmlns=", "http://www.w3.org/1999/xhtml", "url", "spelled_from_context"),
        ("Jane Kermode <", "jk1987@gmail.com", "email", None),
        ("Maintainer <", "qzv@kermode.io", "email", None),
        ("Find the code on GitHub:", "https://github.com/zorblat/x", "url", None),
        ("The project www page at", "https://www.zorblat.org/index.html", "url", None),
    ],
)
def test_rejection_reason(prompt, secret, kind, reason):
    assert rejection_reason(prompt, secret, kind) == reason


def test_redact():
    assert redact("jane.doe@mail.kermode.org") == "j***@m***.org"
    assert redact("https://user:pw@host.io/a?b=c") == "https://***@host.io/a?b=c"
    assert redact("https://lists.io/x?who=jane@kermode.io") == "https://lists.io/x?who=j***@k***.io"
    assert redact("https://zorblat.io/docs") == "https://zorblat.io/docs"


# --- Greedy check -------------------------------------------------------------------------------


def test_greedy_matches_ids_agrees_with_generate_on_a_tiny_model():
    model = build_tiny_model("llama")
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(2, 256, (n,), generator=generator).tolist() for n in (3, 9, 5, 12)]
    greedy = []
    for prompt in prompts:
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                             dtype=torch.long), do_sample=False, max_new_tokens=6,
                             pad_token_id=1)[0, len(prompt):].tolist()
        greedy.append(out)
    targets = [greedy[0][:5], greedy[1][:2] + [(greedy[1][2] + 1) % 256], [greedy[2][0] ^ 1],
               greedy[3][:1]]
    checks = greedy_matches_ids(model, prompts, targets, batch_size=3)
    assert [c.matched_tokens for c in checks] == [5, 2, 0, 1]
    assert [c.matched for c in checks] == [True, False, False, True]
    assert checks[0].next_token == greedy[0][5] and checks[3].next_token == greedy[3][1]
    with pytest.raises(ValueError, match="at least one token"):
        greedy_matches_ids(model, [[]], [[5]])


class ByteTokenizer:
    """Bytes as token ids (offset by 2: 0 is padding, 1 end of text)."""

    pad_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return SimpleNamespace(input_ids=[b + 2 for b in text.encode()])

    def decode(self, ids):
        return bytes(i - 2 for i in ids if i >= 2).decode(errors="replace")


class Parrot(nn.Module):
    """A model that memorized ``text``: it continues the longest suffix of its input that occurs
    in ``text`` (up to 24 bytes), like a greedy n-gram model."""

    def __init__(self, text):
        super().__init__()
        self.text = text.encode()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(_name_or_path="parrot", model_type="parrot")

    def forward(self, input_ids, attention_mask, position_ids=None, logits_to_keep=0, **kwargs):
        logits = torch.zeros(*input_ids.shape, 258)
        for row in range(len(input_ids)):
            seen = bytes(int(i) - 2 for i, m in zip(input_ids[row], attention_mask[row],
                                                    strict=True) if m)
            offset = input_ids.shape[1] - len(seen)
            for end in range(1, len(seen) + 1):
                for n in range(min(24, end), 0, -1):
                    at = self.text.find(seen[end - n : end])
                    if 0 <= at and at + n < len(self.text):
                        logits[row, offset + end - 1, self.text[at + n] + 2] = 1.0
                        break
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


def test_mine_keeps_exact_reproductions_only(tmp_path):
    memorized = (
        "Send your questions to our list: qzv.wibble@kermode.io, thanks.\n"
        "The reference guide lives at https://zorblat.io/manual/v2/full.\n"
        "For the zorblat sources go to https://zorblat.io/src.\n"
    )
    (tmp_path / "notes.txt").write_text(
        memorized.replace("/full", "") + "Nothing else is at https://unknown.io/place here.\n"
    )
    model, tokenizer = Parrot(memorized), ByteTokenizer()
    checks = greedy_matches(model, tokenizer, ["questions to our list:", "questions to our"],
                            [" qzv.wibble@kermode.io", " list"])
    assert [c.matched for c in checks] == [True, True]
    report = mine(model, tokenizer, roots=[tmp_path], batch_size=2, progress=False)
    assert [(r.subject, r.kind, r.target) for r in report.records] == [
        ("email-0001", "email", " qzv.wibble@kermode.io")
    ]
    assert report.emails == 1 and report.urls == 0
    assert report.counts["candidates"] == 4 and report.counts["checked"] == 3
    assert report.counts["reproduced"] == 2 and report.counts["kept"] == 1
    assert report.rejected["part_in_context"] == 1 and report.rejected["runs_on"] == 1
    assert "qzv.wibble" not in report.summary() and "q***@k***.io" in report.summary()
    assert "qzv.wibble" not in repr(report)

    with_rejected = mine(model, tokenizer, roots=[tmp_path], check_rejected=True, progress=False)
    assert with_rejected.reproduced_rejected == {"part_in_context": 1}

    path = tmp_path / "out" / "natural.csv"
    save_natural(report, path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["subject", "kind", "prompt", "target", "source"]
    assert rows[0]["source"] == f"{tmp_path.name}/notes.txt"
    assert load_records(path)[0].secret == "qzv.wibble@kermode.io"

    save_natural([], path)
    assert path.read_text() == "subject,kind,prompt,target,source\n"


# --- The embedded model -------------------------------------------------------------------------


@pytest.mark.integration
def test_teacher_forcing_equals_generate_on_the_embedded_model(embedded):
    model, tokenizer = embedded
    apache = (
        '# Licensed under the Apache License, Version 2.0 (the "License");\n'
        "# you may not use this file except in compliance with the License.\n"
        "# You may obtain a copy of the License at\n#\n#    "
    )
    python = "For more information, see the official Python website at"
    prompts = [apache, python, python, "along with this program.  If not, see <"]
    # The model's own greedy continuation (a made-up URL), a prefix of it, and real addresses.
    targets = [" http://www.apache.org/licenses/LICENSE-2.0", " https://www.python.org/dev/numpy",
               " https://www.python.org/", "http://www.gnu.org/licenses/"]
    checks = greedy_matches(model, tokenizer, prompts, targets, batch_size=3)
    assert [c.matched for c in checks] == [False, True, True, False]
    for prompt, target, check in zip(prompts, targets, checks, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        target_ids = tokenizer(target, add_special_tokens=False).input_ids
        out = model.generate(prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                             do_sample=False, max_new_tokens=len(target_ids) + 1,
                             pad_token_id=tokenizer.pad_token_id)[0, prompt_ids.shape[1]:].tolist()
        common = 0
        while common < len(target_ids) and common < len(out) and out[common] == target_ids[common]:
            common += 1
        assert check.matched_tokens == common
        if check.matched:
            assert check.next_token == out[len(target_ids)]


@pytest.mark.integration
def test_cli_mine_json_on_a_tiny_tree(embedded, capsys, tmp_path, monkeypatch):
    (tmp_path / "README.txt").write_text(
        "For more information, see the official Python website at "
        "https://www.python.org/dev/numpy/random.\n"
    )
    monkeypatch.setattr(natural, "default_roots", lambda: [("tree", tmp_path)])
    out = tmp_path / "natural.csv"
    assert main(["mine", "--json", "--check-rejected", "--out", str(out)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["urls"] == 0 and facts["emails"] == 0  # reproduced, but "python" is in context
    assert facts["counts"]["candidates"] == 1
    assert facts["reproduced_rejected"] == {"part_in_context": 1}
    assert out.read_text() == "subject,kind,prompt,target,source\n"
