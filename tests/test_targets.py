import random

import pytest

from revs.data.records import Record
from revs.targets import select_target_tokens

SSN = Record("p", "tax", "SSN:", " 915-11-1364")


def test_rarest_two_of_an_ssn_keyed_by_position(byte_tokenizer):
    tokens = select_target_tokens(byte_tokenizer, SSN)
    # Bytes: ' ' skipped (whitespace), '-' skipped; the highest ids are '9' then '6'.
    assert [(t.text, t.position) for t in tokens] == [("9", 1), ("6", 10)]
    for t in tokens:
        target_ids = list(b" 915-11-1364")
        assert t.prefix_ids == tuple(b"SSN:") + tuple(target_ids[: t.position])
        assert t.token_id == target_ids[t.position]


def test_repeated_digits_stay_separate_targets(byte_tokenizer):
    record = Record("p", "k", "id", " 911-11-1111")
    tokens = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="first")
    assert [t.position for t in tokens] == [1, 2, 3, 5, 6, 8, 9, 10, 11]
    assert [t.text for t in tokens] == list("911111111")
    # "rarest" with ties keeps the secret's order among equal ids.
    rarest = select_target_tokens(byte_tokenizer, record, max_tokens=3)
    assert [(t.text, t.position) for t in rarest] == [("9", 1), ("1", 2), ("1", 3)]


def test_email_stop_and_skip_rules(byte_tokenizer):
    record = Record("p", "k", "mail me at", " tq.x9@example.com")
    tokens = select_target_tokens(byte_tokenizer, record, max_tokens=None, method="first",
                                  skip=("@", "."), stop=("@",))
    assert [t.text for t in tokens] == list("tqx9")
    assert tokens[2].prefix_ids[-4:] == tuple(b" tq.")  # a skipped token still extends the prefix


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
        select_target_tokens(byte_tokenizer, Record("p", "k", "x", " @@"), stop=("@",))
    with pytest.raises(ValueError, match="unknown token method"):
        select_target_tokens(byte_tokenizer, SSN, method="longest")


@pytest.mark.integration
def test_smollm2_ssn_tokens(embedded):
    _, tokenizer = embedded
    tokens = select_target_tokens(tokenizer, SSN)
    assert [(t.text, t.position) for t in tokens] == [("9", 1), ("6", 10)]
    prompt_ids = tokenizer("SSN:", add_special_tokens=False).input_ids
    assert tokens[0].prefix_ids == tuple(prompt_ids) + (216,)  # the lone space token
