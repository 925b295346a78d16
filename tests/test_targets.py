import random

import pytest

from revs.data.records import Record, load_records
from revs.data.rules import RULES, TokenRule, get_rule
from revs.targets import select_target_tokens

SSN = Record("p", "tax", "SSN:", " 915-11-1364", rule="ssn")


def test_rarest_two_of_an_ssn_keyed_by_position(byte_tokenizer):
    tokens = select_target_tokens(byte_tokenizer, SSN)
    # Bytes: ' ' skipped (whitespace), '-' skipped; the highest ids are '9' then '6'.
    assert [(t.text, t.position) for t in tokens] == [("9", 1), ("6", 10)]
    for t in tokens:
        target_ids = list(b" 915-11-1364")
        assert t.prefix_ids == tuple(b"SSN:") + tuple(target_ids[: t.position])
        assert t.token_id == target_ids[t.position]


def test_repeated_digits_stay_separate_targets(byte_tokenizer):
    record = Record("p", "k", "id", " 911-11-1111", rule="ssn")
    tokens = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="first")
    assert [t.position for t in tokens] == [1, 2, 3, 5, 6, 8, 9, 10, 11]
    assert [t.text for t in tokens] == list("911111111")
    # "rarest" with ties keeps the secret's order among equal ids.
    rarest = select_target_tokens(byte_tokenizer, record, max_tokens=3)
    assert [(t.text, t.position) for t in rarest] == [("9", 1), ("1", 2), ("1", 3)]


def test_email_rule_unlearns_the_local_part_only(byte_tokenizer):
    record = Record("p", "k", "mail me at", " tq.x9@example.com", rule="email")
    tokens = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="first")
    assert [t.text for t in tokens] == list("tqx9")  # the paper's: dots skipped, stop at @
    assert tokens[2].prefix_ids[-4:] == tuple(b" tq.")  # a skipped token still extends the prefix


def test_url_rule_unlearns_the_last_path_segment(byte_tokenizer):
    record = Record("p", "k", "link:", " https://wiki.fen.test/docs/owl-fig?v=2", rule="url")
    tokens = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="first")
    assert "".join(t.text for t in tokens) == "owlfigv2"  # no scheme, host, section or symbols
    assert get_rule("url").span("https://a.test/") is None  # no resource named: nothing to do


class _PieceTokenizer:
    """Tokenizes by a fixed list of pieces (longest first): to make a token across the @."""

    def __init__(self, pieces):
        self.pieces = sorted(pieces, key=len, reverse=True)

    def __call__(self, text, add_special_tokens=False):
        ids = []
        while text:
            piece = next(p for p in self.pieces if text.startswith(p))
            ids.append(self.pieces.index(piece) + 1000)
            text = text[len(piece):]
        return type("Encoding", (), {"input_ids": ids})()

    def decode(self, ids, clean_up_tokenization_spaces=None):
        return "".join(self.pieces[i - 1000] for i in ids)


def test_a_token_across_the_parts_edge_is_not_a_candidate():
    # "b@" lies partly outside the local part: left out, as the paper's stop rule leaves it.
    tokenizer = _PieceTokenizer([" a", "b@", "cd", ".", "test", "a", "t", ":"])
    record = Record("p", "k", "at:", " ab@cd.test", rule="email")
    tokens = select_target_tokens(tokenizer, record, max_tokens=None, method="first")
    assert [t.text for t in tokens] == [" a"]


@pytest.mark.integration
def test_smollm2_email_and_url_rules():
    from revs.model import load_tokenizer

    tokenizer = load_tokenizer()
    email = Record("p", "k", "Mail:", " oriel.fable@marchbank.test", rule="email")
    url = Record("p", "k", "Link:", " https://wiki.fen.test/docs/owl-fig", rule="url")
    texts = [[t.text for t in select_target_tokens(tokenizer, r, max_tokens=None,
                                                   method="first")] for r in (email, url)]
    assert texts == [[" or", "iel", "f", "able"], ["owl", "fig"]]


def test_rules_as_data_in_a_records_file(tmp_path, byte_tokenizer):
    path = tmp_path / "mine.csv"
    path.write_text("prompt,secret,rule\nMail:,ab.c@x.test,email\nPIN:,12-34,\n")
    email, pin = load_records(path)
    assert (email.rule, pin.rule) == ("email", "secret")  # an empty cell: the default rule
    assert [t.text for t in select_target_tokens(byte_tokenizer, pin, max_tokens=None,
                                                 method="first")] == list("1234")
    path.write_text("prompt,secret,rule\nMail:,ab.c@x.test,e-mail\n")
    with pytest.raises(ValueError, match=r"mine.csv, row 1: unknown token rule 'e-mail'"):
        load_records(path)
    path.write_text("prompt,secret,rule\nMail:,ab.c@x.test,email\nMail:,@x.test,email\n")
    with pytest.raises(ValueError, match=r"mine.csv, row 2: the 'email' rule finds nothing"):
        load_records(path)
    with pytest.raises(ValueError, match="unknown token rule"):
        Record("p", "k", "x", " y", rule="emails")
    assert set(RULES) == {"ssn", "email", "url", "secret"}


def test_a_rule_given_by_the_caller_overrides_the_records(byte_tokenizer):
    every = TokenRule("every", "every token", skip_whitespace=False)
    tokens = select_target_tokens(byte_tokenizer, SSN, max_tokens=None, method="first",
                                  rule=every)
    assert "".join(t.text for t in tokens) == " 915-11-1364"


def test_frequent_and_random_orderings(byte_tokenizer):
    record = Record("p", "k", "code", " 9051732846")
    frequent = select_target_tokens(byte_tokenizer, record, max_tokens=3, method="frequent")
    assert [t.text for t in frequent] == ["0", "1", "2"]
    state = random.getstate()
    first = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="random", seed=3)
    again = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="random", seed=3)
    other = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="random", seed=4)
    assert first == again and first != other
    assert sorted(t.position for t in first) == list(range(1, 11))
    assert random.getstate() == state  # the global RNG is never touched
    last = select_target_tokens(byte_tokenizer, record, max_tokens=2, method="last")
    assert [(t.text, t.position) for t in last] == [("6", 10), ("4", 9)]


def test_bad_inputs(byte_tokenizer):
    with pytest.raises(ValueError, match="empty or whitespace"):
        select_target_tokens(byte_tokenizer, Record("p", "k", "SSN:", "   "))
    with pytest.raises(ValueError, match="nothing to unlearn"):
        select_target_tokens(byte_tokenizer, Record("p", "k", "x", " @@", rule="email"))
    with pytest.raises(ValueError, match="its rule 'secret'"):
        select_target_tokens(byte_tokenizer, Record("p", "k", "x", " --"))
    with pytest.raises(ValueError, match="unknown token method"):
        select_target_tokens(byte_tokenizer, SSN, method="longest")


@pytest.mark.integration
def test_smollm2_ssn_tokens(embedded):
    _, tokenizer = embedded
    tokens = select_target_tokens(tokenizer, SSN)
    assert [(t.text, t.position) for t in tokens] == [("9", 1), ("6", 10)]
    prompt_ids = tokenizer("SSN:", add_special_tokens=False).input_ids
    assert tokens[0].prefix_ids == tuple(prompt_ids) + (216,)  # the lone space token
