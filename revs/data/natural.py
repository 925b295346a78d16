"""Mining *naturally memorized* URLs and e-mail addresses from text shipped offline.

The REVS paper unlearns e-mail addresses and URLs that the model reproduces verbatim by greedy
decoding from their natural context. This module owns the search for such strings in a model:

1. **Scan** (:func:`scan_candidates`): text that ships with the current environment (package
   metadata, README / LICENSE / docs files, the first lines of source files where license headers
   live) and with the Python standard library, for ``http(s)`` URLs and e-mail addresses. Each
   occurrence becomes a candidate: the address, with the text before it in the same file as the
   prompt (at most :data:`PREFIX_CHARS` characters, cut at a line boundary). Candidates with the
   same address and prompt are merged; at most ``max_prompts_per_secret`` prompts per address are
   kept so that one licence URL repeated in a thousand headers does not crowd out the rest.
2. **Rules** (:func:`rejection_reason`): an address that the prompt gives away (the address, or
   one of its meaningful pieces, appears in the prompt or is spelled from its words, as
   ``jkermode@...`` after "Jane Kermode"), that has no meaningful piece at all, or that lies in
   a reserved or example domain is not a memorized secret. The rules are cheap, so they run
   before the model, which only checks what they let through (unless ``check_rejected``).
3. **Model** (:func:`revs.experiments.mining.mine`, which runs the three steps): a candidate is
   reproduced when greedy decoding continues the prompt with exactly the address. A reproduction
   that goes on with more address characters (``.../foo`` → ``.../foobar``, :func:`runs_on`) is
   not exact and is rejected (``"runs_on"``).

This module holds the text side and never runs a model; :func:`save_natural` writes the kept
records in the format of :func:`revs.data.records.load_records` with an extra ``source``
column. E-mail addresses of real people never reach the logs or a summary in clear:
:func:`redact` masks them.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import logging
import os
import re
import sysconfig
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .records import Record

__all__ = [
    "GENERIC_PIECES",
    "PREFIX_CHARS",
    "Candidate",
    "NaturalRecord",
    "default_roots",
    "extract_candidates",
    "find_addresses",
    "meaningful_pieces",
    "normalize_roots",
    "redact",
    "rejection_reason",
    "runs_on",
    "save_natural",
    "scan_candidates",
]

logger = logging.getLogger(__name__)

PREFIX_CHARS = 200
"""Most characters of text before an address that a prompt keeps."""
MIN_PREFIX_CHARS = 12
"""A prompt needs at least this many non-space characters (else the address is skipped)."""
HEAD_CHARS = 3000
"""Characters read from the start of a source file: where licence headers and authors live."""
MAX_FILE_CHARS = 200_000
"""Characters read from a text file (metadata, README, docs)."""

GENERIC_PIECES = frozenset({
    # schemes, top-level domains, file types
    "http", "https", "www", "com", "org", "net", "info", "html", "htm", "php", "aspx",
    # mail providers and words
    "mailto", "mail", "email", "gmail", "googlemail", "yahoo", "hotmail", "outlook",
    # code and documentation hosts, and their path words
    "github", "gitlab", "bitbucket", "sourceforge", "readthedocs", "pypi", "docs", "index",
    "issues", "pull", "blob", "tree", "master", "main", "latest", "stable", "wiki",
})
"""Pieces of an address that identify nothing: naming them in the prompt ("the code is on GitHub")
does not give the address away."""

_TEXT_SUFFIXES = frozenset({".txt", ".md", ".rst"})
_TEXT_NAMES = frozenset({"METADATA", "PKG-INFO"})
_TEXT_STEMS = ("LICENSE", "LICENCE", "COPYING", "AUTHORS", "CONTRIBUTORS", "NOTICE", "README")
_SOURCE_SUFFIXES = frozenset({
    ".py", ".pyi", ".pyx", ".pxd", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".cuh", ".js",
})
_SKIPPED_DIRS = frozenset({
    "__pycache__", ".git", "site-packages", "dist-packages", "node_modules",
})

_URL = re.compile(r"""https?://[^\s<>"'`{}|\\^\[\]]+""", re.IGNORECASE)
_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TRAILING = ".,;:!?*_~'\")]}>"
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_TLDS = ("test", "example", "invalid", "localhost", "local")


# --- Addresses ----------------------------------------------------------------------------------


def _clean_url(url: str) -> str:
    """A URL without the sentence punctuation or markup that the match swallowed at its end."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # a balanced parenthesis belongs to the URL (Wikipedia-style links)
        url = url[:-1]
    return url


def _host(address: str, kind: str) -> str:
    """The host name of a URL or the domain of an e-mail address, lower case."""
    if kind == "email":
        return address.rsplit("@", 1)[1].lower()
    rest = address.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):  # an IPv6 literal
        return host[1 : host.find("]")].lower()
    return host.split(":", 1)[0].lower()


def _valid_url(url: str) -> bool:
    host = _host(url, "url")
    return bool(host) and (host == "localhost" or ("." in host and _HOST.match(host) is not None))


def find_addresses(text: str) -> list[tuple[int, str, str]]:
    """``(offset, address, kind)`` of every URL and e-mail address in ``text``, in text order.

    Trailing punctuation is stripped from URLs (a balanced closing parenthesis stays); template
    URLs without a real host (``https://{host}/``) are skipped; an e-mail address inside a URL is
    part of the URL.
    """
    found = []
    spans = []
    for match in _URL.finditer(text):
        url = _clean_url(match.group(0))
        if _valid_url(url):
            found.append((match.start(), url, "url"))
            spans.append((match.start(), match.start() + len(url)))
    for match in _EMAIL.finditer(text):
        if not any(start <= match.start() < end for start, end in spans):
            found.append((match.start(), match.group(0), "email"))
    return sorted(found)


def runs_on(address: str, kind: str, following: str) -> bool:
    """Whether ``following`` text, right after ``address``, would make the address longer."""
    pattern = _URL if kind == "url" else _EMAIL
    match = pattern.match(address + following)
    if match is None:
        return False
    found = _clean_url(match.group(0)) if kind == "url" else match.group(0)
    return len(found) > len(address)


def redact(address: str) -> str:
    """An address safe to show: e-mail addresses masked, URL credentials removed.

    ``jane.doe@mail.example.org`` → ``j***@m***.org``; ``https://user:pw@host/x`` →
    ``https://***@host/x``; an e-mail address inside a URL is masked too. Other URLs are public
    locations and stay as they are.
    """
    def mask(match: re.Match) -> str:
        local, domain = match.group(0).rsplit("@", 1)
        labels = domain.split(".")
        return f"{local[:1]}***@{labels[0][:1]}***.{labels[-1]}"

    if "://" in address:
        scheme, rest = address.split("://", 1)
        authority = re.match(r"[^/?#]*", rest).group(0)
        if "@" in authority:  # user name and maybe password
            rest = "***@" + rest[len(authority) - len(authority.rsplit("@", 1)[1]) :]
        address = f"{scheme}://{rest}"
    return _EMAIL.sub(mask, address)


# --- Candidates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One occurrence of an address in a text shipped offline."""

    secret: str
    """The address itself."""
    kind: str
    """``"url"`` or ``"email"``."""
    prompt: str
    """The text before it (without the separating space, which belongs to the target)."""
    target: str
    """The exact continuation: the address, with one leading space if the text had one."""
    source: str
    """Where it was found: ``stdlib/<path>``, ``site-packages/<path>`` or ``<root>/<path>``."""

    def key(self) -> int:
        """A stable pseudo-random rank: the order in which candidates are sampled."""
        digest = hashlib.sha256(f"{self.secret}\x00{self.prompt}".encode()).digest()
        return int.from_bytes(digest[:8], "big")


def _prefix(text: str, offset: int, prefix_chars: int) -> str:
    """Up to ``prefix_chars`` characters before ``offset``, starting at a line start if possible."""
    start = max(0, offset - prefix_chars)
    prefix = text[start:offset]
    if start > 0 and text[start - 1] != "\n":
        newline = prefix.find("\n")
        if newline >= 0 and len(prefix[newline + 1 :].strip()) >= MIN_PREFIX_CHARS:
            prefix = prefix[newline + 1 :]
        else:  # one long line: start at a word
            space = prefix.find(" ")
            prefix = prefix[space + 1 :] if space >= 0 else prefix
    return prefix


def extract_candidates(
    text: str, source: str, *, prefix_chars: int = PREFIX_CHARS
) -> tuple[list[Candidate], int]:
    """Candidates of one text, in text order, and how many addresses were skipped.

    An address is skipped when the text before it has fewer than :data:`MIN_PREFIX_CHARS`
    non-space characters (nothing to be reproduced from). A single space between prompt and
    address goes to the target, as the tokenizer would attach it to the address's first token.
    """
    candidates, skipped = [], 0
    for offset, address, kind in find_addresses(text):
        prefix = _prefix(text, offset, prefix_chars)
        if len(prefix.strip()) < MIN_PREFIX_CHARS:
            skipped += 1
            continue
        space = " " if prefix.endswith(" ") else ""
        candidates.append(
            Candidate(address, kind, prefix[: len(prefix) - len(space)], space + address, source)
        )
    return candidates, skipped


def default_roots() -> list[tuple[str, Path]]:
    """``(label, folder)`` pairs scanned by default: the standard library and site-packages."""
    paths = sysconfig.get_paths()
    roots = [("stdlib", Path(paths["stdlib"]))]
    for key in ("purelib", "platlib"):
        folder = Path(paths[key])
        if folder.is_dir() and all(folder.resolve() != r.resolve() for _, r in roots):
            roots.append(("site-packages", folder))
    return roots


def _how_to_read(name: str) -> int | None:
    """How many characters of a file to read (None: not a text we scan)."""
    suffix = os.path.splitext(name)[1].lower()
    if name in _TEXT_NAMES or suffix in _TEXT_SUFFIXES or name.upper().startswith(_TEXT_STEMS):
        return MAX_FILE_CHARS
    if suffix in _SOURCE_SUFFIXES:
        return HEAD_CHARS
    return None


def _files(roots: Sequence[tuple[str, Path]]) -> Iterator[tuple[str, Path, int]]:
    """``(source label, path, characters to read)`` of each file to scan, in sorted order."""
    for label, root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"no folder to scan at {str(root)!r}")
        found = []
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if name not in _SKIPPED_DIRS]
            for name in names:
                limit = _how_to_read(name)
                if limit is not None:
                    found.append((Path(folder, name), limit))
        for path, limit in sorted(found):
            yield f"{label}/{path.relative_to(root).as_posix()}", path, limit


def _read(path: Path, limit: int) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(limit)
    except OSError:
        return None
    return None if "\x00" in text else text  # a binary file with a text-like name


def normalize_roots(roots) -> list[tuple[str, Path]]:
    """``(label, folder)`` pairs from :func:`scan_candidates`' ``roots`` (None: the defaults)."""
    if roots is None:
        return default_roots()
    normalized = []
    for root in roots:
        label, folder = root if isinstance(root, tuple) else (Path(root).name, root)
        normalized.append((label, Path(folder)))
    return normalized


def scan_candidates(
    roots=None, *, max_prompts_per_secret: int = 3, prefix_chars: int = PREFIX_CHARS
) -> tuple[list[Candidate], dict[str, int]]:
    """All candidates in the files under ``roots``, deduplicated, and the scan's counts.

    Args:
        roots: folders to scan, each a path (labelled by its name) or a ``(label, path)`` pair;
            None: :func:`default_roots`. Only metadata, README / LICENSE / docs files (all of
            them) and source files (their first :data:`HEAD_CHARS` characters) are read.
        max_prompts_per_secret: keep at most this many prompts of one address, the first in the
            order of :meth:`Candidate.key`.
        prefix_chars: most characters of a prompt.

    Returns:
        The candidates, ordered by :meth:`Candidate.key` (a fixed pseudo-random order), and counts
        ``files``, ``addresses`` (occurrences), ``short_prefix`` (skipped), ``duplicates``
        (same address and prompt), ``over_secret_cap``, ``candidates``, ``secrets``.
    """
    seen: dict[tuple[str, str], Candidate] = {}
    counts = Counter(files=0, addresses=0, short_prefix=0, duplicates=0)
    for source, path, limit in _files(normalize_roots(roots)):
        text = _read(path, limit)
        if text is None:
            continue
        counts["files"] += 1
        found, skipped = extract_candidates(text, source, prefix_chars=prefix_chars)
        counts["addresses"] += len(found) + skipped
        counts["short_prefix"] += skipped
        for candidate in found:
            if (candidate.secret, candidate.prompt) in seen:
                counts["duplicates"] += 1
            else:
                seen[candidate.secret, candidate.prompt] = candidate
    per_secret: Counter[str] = Counter()
    candidates = []
    for candidate in sorted(seen.values(), key=lambda c: (c.key(), c.secret, c.prompt)):
        per_secret[candidate.secret] += 1
        if per_secret[candidate.secret] <= max_prompts_per_secret:
            candidates.append(candidate)
    counts["over_secret_cap"] = len(seen) - len(candidates)
    counts["candidates"] = len(candidates)
    counts["secrets"] = len(per_secret)
    return candidates, dict(counts)


# --- Rules --------------------------------------------------------------------------------------


def meaningful_pieces(address: str) -> list[str]:
    """Lower-case alphanumeric pieces of 4+ characters that are not in :data:`GENERIC_PIECES`."""
    pieces = re.findall(r"[a-z0-9]+", address.lower())
    return [p for p in dict.fromkeys(pieces) if len(p) >= 4 and p not in GENERIC_PIECES]


def _reserved(host: str) -> bool:
    if host == "localhost" or host.rsplit(".", 1)[-1] in _RESERVED_TLDS:
        return True
    if any(host == domain or host.endswith("." + domain) for domain in _RESERVED_DOMAINS):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_reserved or ip.is_unspecified


def rejection_reason(prompt: str, secret: str, kind: str) -> str | None:
    """Why an address cannot count as a memorized secret in this context (None: it can).

    Reasons, checked in this order:

    - ``"reserved_domain"``: example.com/.org/.net/.edu, the .test/.example/.invalid/.localhost/
      .local top-level domains, localhost and private or loopback IP addresses;
    - ``"in_context"``: the address appears in the prompt (case-insensitive);
    - ``"generic"``: no piece of it is meaningful (see :func:`meaningful_pieces`);
    - ``"part_in_context"``: a meaningful piece appears in the prompt (case-insensitive): the
      model could have copied it (a project's name before its URL);
    - ``"spelled_from_context"``: a meaningful piece is spelled by the prompt once its spaces and
      punctuation are removed ("Node.js" → ``nodejs.org``, "Jane Kermode" →
      ``janekermode@...``), or is at least half made of one word of 4+ characters of the prompt
      ("Jane Kermode" → ``jkermode@...``, ``<html`` → ``.../xhtml``): the usual ways to build
      an address from a name, which a model learns without memorizing anyone's address.
    """
    if _reserved(_host(secret, kind)):
        return "reserved_domain"
    context = prompt.lower()
    if secret.lower() in context:
        return "in_context"
    pieces = meaningful_pieces(secret)
    if not pieces:
        return "generic"
    if any(piece in context for piece in pieces):
        return "part_in_context"
    squashed = re.sub(r"[^a-z0-9]", "", context)
    words = {w for w in re.findall(r"[a-z0-9]+", context) if len(w) >= 4}
    for piece in pieces:
        if piece in squashed or any(w in piece and 2 * len(w) >= len(piece) for w in words):
            return "spelled_from_context"
    return None


@dataclass(frozen=True)
class NaturalRecord(Record):
    """A record of a naturally memorized address, with where it was found."""

    source: str
    """``stdlib/<path>``, ``site-packages/<path>`` or ``<root>/<path>``."""


_CSV_COLUMNS = ["subject", "kind", "prompt", "target", "source"]


def save_natural(report: Iterable[NaturalRecord], path: str | Path) -> None:
    """Write the kept records as CSV with columns ``subject, kind, prompt, target, source``.

    The file reads back with :func:`revs.data.records.load_records` (which ignores ``source``);
    with no record it holds only the header. ``report`` is the records, or a
    :class:`~revs.experiments.mining.MiningReport` of them.
    """
    records = list(getattr(report, "records", report))  # a MiningReport, or its records
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: v for k, v in asdict(r).items() if k in _CSV_COLUMNS}
                         for r in records)
