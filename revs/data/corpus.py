"""An offline general-English corpus, assembled at run time from the Python standard library.

REVS needs general text three times: the perplexity of the edited model (does it still speak
English?), retain data for the baselines, and the key statistics of MEMIT. Nothing may be
downloaded, so this module owns a corpus built from text that ships with *every* CPython
installation, whatever packages are installed:

1. **The language reference topics** of ``pydoc_data.topics.topics`` (the text ``help("if")``
   shows): about 80 chapters of the Python documentation rendered to plain text. Each chapter is
   cut at its headings; one document per section.
2. **Docstrings of standard-library modules**: the module docstring and every class or function
   docstring of the ``.py`` files under ``sysconfig.get_paths()["stdlib"]``, found with a scan for
   statement-level triple-quoted strings (a regular expression: parsing with ``ast`` would
   take seconds).
   Test suites and the folders that Linux distributions ship as separate packages (``idlelib``,
   ``tkinter``, ``turtledemo``, ``lib2to3``, ``distutils``, ``ensurepip``) are left out, and so is
   the interpreter's own ``site-packages``, so the corpus depends on the Python version only.

Both are cleaned into prose: paragraphs are unwrapped into one line each; code (indented blocks,
doctests, grammar rules), tables, reST directives, headings and fragments of fewer than
:data:`MIN_WORDS` words or mostly non-words are dropped; a paragraph seen before (``_pyio``
repeats ``io``, ``_pydecimal`` repeats ``decimal``...) is dropped. A document keeps its
paragraphs joined by blank lines and needs at least :data:`MIN_DOCUMENT_CHARS` characters.

Each document has an id (``topics/<topic>#<section>`` or ``stdlib/<module>#<n>``). The SHA-256 of
the id decides its part, ``"heldout"`` for about :data:`HELDOUT_PERCENT` % of the documents and
``"train"`` for the rest, and orders the documents within a part: the order looks shuffled but is
fixed, so the first documents of a part are a fair sample of it (``max_documents``). The text is
technical English (it talks about Python), which suits a model trained on code and web text; it
is no substitute for a broad web corpus.

Size with CPython 3.11.7 and the SmolLM2 tokenizer: 1,059 train documents (137,639 tokens) and
283 held-out documents (37,323 tokens), built in under a second. The embedded model's perplexity
on the whole held-out part is 24.3 (about 3 minutes on one CPU core); the first 50 held-out
documents (5,347 tokens, under half a minute) give 28.7, a fast check for notebooks and tests.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import logging
import os
import re
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HELDOUT_PERCENT",
    "MIN_DOCUMENT_CHARS",
    "MIN_WORDS",
    "PARTS",
    "Document",
    "corpus_digest",
    "corpus_stats",
    "general_corpus",
    "general_documents",
]

logger = logging.getLogger(__name__)

PARTS = ("train", "heldout")
"""The corpus's parts: disjoint sets of documents."""
HELDOUT_PERCENT = 20
"""Share of the documents (in expectation, by hash) that go to the ``"heldout"`` part."""
MIN_WORDS = 8
"""A paragraph needs at least this many words to count as prose."""
MIN_DOCUMENT_CHARS = 200
"""A document needs at least this many characters of prose to be kept."""

# Folders of the standard library left out: tests (fixtures, not prose) and the parts that Linux
# distributions split into separate packages (so that the corpus depends on the Python version
# only), plus the base interpreter's own site-packages.
_SKIPPED_DIRS = frozenset({
    "site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test", "idlelib",
    "tkinter", "turtledemo", "lib2to3", "distutils", "ensurepip",
})


@dataclass(frozen=True)
class Document:
    """One document of the corpus."""

    id: str
    """Stable id: ``topics/<topic>#<section>`` or ``stdlib/<module>#<docstring number>``."""
    part: str
    """``"train"`` or ``"heldout"``, from the SHA-256 of the id."""
    text: str
    """Prose paragraphs (one line each) separated by blank lines."""


# --- Cleaning -----------------------------------------------------------------------------------

# A word of prose: letters, maybe an apostrophe or hyphen, maybe wrapped in quotes, brackets,
# emphasis stars and followed by punctuation. Identifiers like ``__init__()`` or ``x[i]`` fail.
_WORD = re.compile(
    r"""^[("'“‘*\[]*[A-Za-z][a-z'’-]*[)"'”’*\].,;:!?]*$"""
    r"""|^\(?"[\w.]+(?:\(\))?"[).,;:]*$"""  # an identifier quoted inline: "sys.path", "len()"
)
_UNDERLINE = re.compile(r"^\s*([=*\-~^#+`'\".])\1{2,}\s*$")  # a heading's underline (or overline)
_BULLET = re.compile(r"^(?:[*\-+•]|\d{1,2}[.)]|\([a-z0-9]\))\s+")
_CODE_MARKERS = (">>>", "::=", "+--", "|==", "...:", "$ ")
_SENTENCE_END = (".", "?", "!", ":", ")", '"', "”")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_prose(paragraph: str) -> bool:
    """Whether a one-line paragraph reads as English prose rather than code or a fragment."""
    words = paragraph.split()
    if len(words) < MIN_WORDS or not paragraph.endswith(_SENTENCE_END):
        return False
    if not paragraph[0].isupper() and paragraph[0] not in "\"'“(":
        return False
    if any(marker in paragraph for marker in _CODE_MARKERS):
        return False
    wordy = sum(1 for word in words if _WORD.match(word))
    return wordy >= 0.8 * len(words)


def _blocks(text: str) -> list[list[str]]:
    """Blank-line separated blocks of lines, also cut where code starts and ends.

    A line indented 3 or more columns deeper than the paragraph's text starts code (an example
    under "For example:", an argument list under "Args:"): it and the deeper lines after it are
    dropped, and so are reST directives and table rows. The continuation lines of a bullet point
    are indented by the width of its marker and stay.
    """
    blocks: list[list[str]] = []
    current: list[str] = []
    base: int | None = None  # indentation of the paragraph's text
    hanging = 0  # extra indentation of a bullet's continuation lines ("1. " -> 3)
    in_code = False

    def flush() -> None:
        nonlocal current
        if current:
            blocks.append(current)
        current = []

    for raw in text.expandtabs(8).splitlines():
        line = raw.rstrip()
        if not line.strip() or _UNDERLINE.match(line):
            flush()
            base, hanging, in_code = None, 0, False
            continue
        indent, stripped = _indent(line), line.lstrip()
        if stripped.startswith((".. ", "|")):  # a reST directive or a table row, and its body
            flush()
            base, hanging, in_code = indent, 0, True
            continue
        if base is None:
            base, hanging = indent, 0
        elif in_code:
            if indent > base + hanging:
                continue
            base, hanging, in_code = indent, 0, False
        bullet = _BULLET.match(stripped)
        if bullet is None and indent >= base + hanging + 3:
            flush()
            in_code = True
            continue
        if bullet is not None:
            flush()
            base, hanging = indent, len(bullet.group(0))
        current.append(line)
    flush()
    return blocks


def prose_paragraphs(text: str) -> list[str]:
    """The prose paragraphs of a plain-text or reST-like ``text``, each unwrapped to one line.

    A block of lines becomes one paragraph; a bullet point is its own block, its marker removed.
    Headings, code, tables, directives and fragments (see :func:`_is_prose`) are dropped.
    """
    paragraphs = []
    for block in _blocks(text):
        block[0] = _BULLET.sub("", block[0].lstrip(), count=1)
        paragraph = " ".join(line.strip() for line in block)
        if _is_prose(paragraph):
            paragraphs.append(paragraph)
    return paragraphs


# --- Sources ------------------------------------------------------------------------------------


def _topic_sections() -> list[tuple[str, str]]:
    """(id, text) of each section of each ``pydoc_data`` topic, cut at underlined headings."""
    from pydoc_data.topics import topics

    sections = []
    for key in sorted(topics):
        lines = topics[key].splitlines()
        starts = [0] + [
            i - 1 for i in range(2, len(lines))
            if _UNDERLINE.match(lines[i]) and lines[i - 1].strip()
        ]
        for n, (start, end) in enumerate(zip(starts, starts[1:] + [len(lines)], strict=True)):
            sections.append((f"topics/{key}#{n}", "\n".join(lines[start:end])))
    return sections


# A statement-level triple-quoted string: at the start of a line, alone on its line(s). The scan
# goes through every triple-quoted literal in order so that a closing quote never opens one.
_TRIPLE = re.compile(r"""[rRuU]?(?P<quote>\"\"\"|''').*?(?<!\\)(?P=quote)""", re.S)


def _docstrings(source: str) -> list[str]:
    """The docstrings of a module's source: the module's, then its classes' and functions'.

    A literal is a docstring when it starts its line and either opens the file (after comments)
    or follows a line ending in ``:`` (a ``def`` or ``class`` header).
    """
    found = []
    for match in _TRIPLE.finditer(source):
        line_start = source.rfind("\n", 0, match.start()) + 1
        if source[line_start : match.start()].strip():
            continue
        previous = _previous_code_line(source, line_start)
        if previous is not None and not previous.endswith(":"):
            continue
        try:
            value = ast.literal_eval(match.group(0))
        except (SyntaxError, ValueError):
            continue
        if isinstance(value, str):
            found.append(inspect.cleandoc(value))
    return found


def _previous_code_line(source: str, end: int) -> str | None:
    """The last line before offset ``end`` that is neither blank nor a comment (None: none)."""
    while end > 0:
        start = source.rfind("\n", 0, end - 1) + 1
        line = source[start : end - 1 if source[end - 1] == "\n" else end].strip()
        if line and not line.startswith("#"):
            return line
        end = start
    return None


def _stdlib_docstrings() -> list[tuple[str, str]]:
    """(id, text) of every docstring of the standard library's ``.py`` files, in path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [
            name for name in subfolders
            if name not in _SKIPPED_DIRS and not name.startswith("config-")
        ]
        # _sysconfigdata* describes the build, not the language
        paths += [Path(folder, name) for name in files
                  if name.endswith(".py") and not name.startswith("_sysconfigdata")]
    documents = []
    for path in sorted(paths):
        relative = path.relative_to(root)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for n, docstring in enumerate(_docstrings(source)):
            documents.append((f"stdlib/{module}#{n}", docstring))
    return documents


def _part_of(doc_id: str) -> tuple[str, int]:
    digest = int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big")
    return ("heldout" if digest % 100 < HELDOUT_PERCENT else "train"), digest


@functools.lru_cache(maxsize=1)
def _all_documents() -> tuple[Document, ...]:
    started = time.perf_counter()
    seen: set[str] = set()
    keyed = []
    for doc_id, text in _topic_sections() + _stdlib_docstrings():
        paragraphs = []
        for paragraph in prose_paragraphs(text):
            if paragraph not in seen:
                seen.add(paragraph)
                paragraphs.append(paragraph)
        body = "\n\n".join(paragraphs)
        if len(body) >= MIN_DOCUMENT_CHARS:
            part, digest = _part_of(doc_id)
            keyed.append((part, digest, Document(doc_id, part, body)))
    keyed.sort(key=lambda item: (PARTS.index(item[0]), item[1], item[2].id))
    documents = tuple(document for _, _, document in keyed)
    logger.info("general corpus: %d documents built in %.2f s", len(documents),
                time.perf_counter() - started)
    return documents


def _check_part(part: str) -> None:
    if part not in PARTS:
        raise ValueError(f"unknown corpus part {part!r}; choose one of {list(PARTS)}")


def general_documents(part: str = "train") -> list[Document]:
    """The documents of one part of the corpus, with their ids, in the part's fixed order."""
    _check_part(part)
    return [document for document in _all_documents() if document.part == part]


def general_corpus(part: str = "train", *, max_documents: int | None = None) -> list[str]:
    """The texts of one part of the general-English corpus (see the module docstring).

    Args:
        part: ``"train"`` (about 80 % of the documents: retain data, MEMIT statistics) or
            ``"heldout"`` (about 20 %: perplexity). The parts share no document and no paragraph.
        max_documents: keep only the first documents of the part, a fair sample since the order
            is a fixed pseudo-random one (a fast evaluation subset).

    Returns:
        A new list of document texts (paragraphs separated by blank lines). Built once per process
        (in about a second) and cached; the list itself is a copy, safe to modify.
    """
    texts = [document.text for document in general_documents(part)]
    if max_documents is not None:
        if max_documents < 1:
            raise ValueError(f"max_documents must be positive, got {max_documents}")
        texts = texts[:max_documents]
    return texts


def corpus_digest() -> str:
    """A SHA-256 of the whole corpus (ids, parts and texts): compare it across machines."""
    digest = hashlib.sha256()
    for document in _all_documents():
        for value in (document.id, document.part, document.text):
            digest.update(value.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def corpus_stats(tokenizer) -> dict:
    """Documents, characters and tokens (without special tokens) of each part of the corpus.

    Returns:
        ``{"train": {"documents", "characters", "tokens"}, "heldout": {...}, "digest": str}``.
    """
    stats: dict = {}
    for part in PARTS:
        texts = general_corpus(part)
        tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False).input_ids)
        stats[part] = {
            "documents": len(texts),
            "characters": sum(len(text) for text in texts),
            "tokens": tokens,
        }
    stats["digest"] = corpus_digest()
    return stats
