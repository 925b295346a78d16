from types import SimpleNamespace

import pytest

from revs.data import corpus
from revs.data.corpus import corpus_stats, general_corpus, general_documents, prose_paragraphs


def test_parts_are_disjoint_and_cover_the_corpus():
    train, heldout = general_documents("train"), general_documents("heldout")
    assert len(train) > 500 and len(heldout) > 100
    assert not {d.id for d in train} & {d.id for d in heldout}
    paragraphs = [{p for d in docs for p in d.text.split("\n\n")} for docs in (train, heldout)]
    assert not paragraphs[0] & paragraphs[1]
    assert 0.1 < len(heldout) / (len(train) + len(heldout)) < 0.3
    assert all(d.part == "train" for d in train) and all(d.part == "heldout" for d in heldout)


def test_corpus_is_deterministic_and_returns_copies():
    first = general_corpus("heldout")
    first.append("mutated")
    digest = corpus.corpus_digest()
    corpus._all_documents.cache_clear()
    assert general_corpus("heldout") == first[:-1]
    assert corpus.corpus_digest() == digest
    assert general_corpus("train", max_documents=3) == general_corpus("train")[:3]


def test_documents_are_prose():
    for text in general_corpus("heldout"):
        assert len(text) >= corpus.MIN_DOCUMENT_CHARS
        for paragraph in text.split("\n\n"):
            assert "\n" not in paragraph and ">>>" not in paragraph and "::=" not in paragraph
            assert len(paragraph.split()) >= corpus.MIN_WORDS


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown corpus part"):
        general_corpus("test")
    with pytest.raises(ValueError, match="positive"):
        general_corpus("train", max_documents=0)


def test_prose_paragraphs_drop_code_tables_and_headings():
    text = """Section title
*************

The first paragraph is prose that wraps over
two lines and ends with a full stop.

   x = compute(the, arguments)   # code under the paragraph

+------+-------+
| a    | b     |
+------+-------+

* A bullet point that is long enough to be
  kept as a paragraph of its own here.
* Short bullet.

For example, the following lines introduce a block of code:
    >>> print("a doctest")
    a doctest

.. note:: A reST directive is dropped with the whole of its indented
   body, even when its body reads as prose.
"""
    assert prose_paragraphs(text) == [
        "The first paragraph is prose that wraps over two lines and ends with a full stop.",
        "A bullet point that is long enough to be kept as a paragraph of its own here.",
        "For example, the following lines introduce a block of code:",
    ]


def test_docstrings_found_by_the_scan():
    source = '''#!/usr/bin/env python
"""Module docstring."""

X = """not a docstring: an assignment"""


class A:
    r"""Class docstring with a \\ backslash."""

    def f(self,
          y):
        """Function docstring.

        More text.
        """
        return """not a docstring either"""
'''
    assert corpus._docstrings(source) == [
        "Module docstring.",
        "Class docstring with a \\ backslash.",
        "Function docstring.\n\nMore text.",
    ]


def test_corpus_stats_counts_tokens_per_part():
    def tokenizer(texts, add_special_tokens=False):
        return SimpleNamespace(input_ids=[text.split() for text in texts])

    stats = corpus_stats(tokenizer)
    for part in corpus.PARTS:
        texts = general_corpus(part)
        assert stats[part]["documents"] == len(texts)
        assert stats[part]["tokens"] == sum(len(t.split()) for t in texts)
    assert len(stats["digest"]) == 64
