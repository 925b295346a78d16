"""Token rules: which part of a secret is unlearned, as data that travels with each record.

A rule says which characters of a secret carry what makes it sensitive (:attr:`TokenRule.part`),
and which tokens inside them are passed over (separators, whitespace). It is a property of the
*data*, not of a method: every :class:`~revs.data.records.Record` names its rule
(``record.rule``), so every method unlearns, and every score reads, the same (prefix, token)
pairs, and no caller can forget to pass it. How many of the candidates a method keeps, and in
which order, is the method's own setting (``REVSConfig.max_tokens``, ``token_method``).

The rules (:data:`RULES`):

- ``ssn``: the whole secret, hyphens skipped (the official code's SSN rule).
- ``email``: the local part only (before the ``@``), tokens with a dot and tokens without a
  letter or digit (``_``, ``-``) skipped: the paper's e-mail rule (its ``stop=("@",)``,
  ``skip=("@", ".")``), with separators skipped as hyphens are in SSNs. The domain is shared
  by everyone at an organisation and is not what identifies the person.
- ``url``: the last segment of the path (and its query), tokens without a letter or digit
  skipped. The scheme (`` https``) begins every URL and the host (and a path's leading
  sections, ``/wiki/``, ``/d/``) is shared by every resource of a site; what names one resource
  is the end of its path. Unlearning a shared piece would damage every other link of the site.
- ``secret``: the whole secret, tokens without a letter or digit skipped: the default for a
  user's file without a ``rule`` column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_RULE", "RULES", "TokenRule", "get_rule"]


@dataclass(frozen=True)
class TokenRule:
    """Which tokens of a secret may be unlearned."""

    name: str
    """The rule's name in :data:`RULES` (what a records file's ``rule`` column holds)."""
    description: str
    """One line for people: what the rule unlearns."""
    part: str | None = None
    """A regular expression searched in the secret; its group ``part`` (or, without one, the
    whole match) is the span whose tokens may be unlearned. ``None``: the whole secret."""
    skip: tuple[str, ...] = ()
    """A token containing one of these strings is not unlearned (it still extends the prefix of
    later tokens)."""
    skip_symbols: bool = False
    """Skip tokens without a letter or a digit (``/``, ``-``, ``.``, ``?``)."""
    skip_whitespace: bool = True
    """Skip tokens made only of whitespace (SmolLM2's lone space before digits)."""

    def span(self, secret: str) -> tuple[int, int] | None:
        """Start and end of the characters of ``secret`` (a record's ``secret``) to unlearn.

        ``None`` when the rule finds no such part (an address without a local part).
        """
        if self.part is None:
            return (0, len(secret)) if secret else None
        match = re.search(self.part, secret)
        if match is None:
            return None
        group = "part" if "part" in match.re.groupindex else 0
        start, end = match.span(group)
        return (start, end) if end > start else None

    def skips(self, text: str) -> bool:
        """Whether a token that decodes to ``text`` is passed over."""
        if self.skip_whitespace and not text.strip():
            return True
        if self.skip_symbols and not any(c.isalnum() for c in text):
            return True
        return any(s in text for s in self.skip)


RULES: dict[str, TokenRule] = {rule.name: rule for rule in (
    TokenRule("ssn", "every token of the secret, hyphens skipped", skip=("-",)),
    TokenRule("email", "the local part (before the @), dots and separators skipped",
              part=r"^(?P<part>[^@\s]+)@", skip=(".",), skip_symbols=True),
    TokenRule("url", "the last path segment and its query (not the scheme, host or sections)",
              part=r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s]+/(?:[^/\s?#]*/)*(?P<part>[^/\s#]+)",
              skip_symbols=True),
    TokenRule("secret", "every token of the secret with a letter or digit", skip_symbols=True),
)}
"""The named rules a record (or a records file's ``rule`` column) can carry."""

DEFAULT_RULE = "secret"
"""The rule of a record that names none (a user's file without a ``rule`` column)."""


def get_rule(name: str) -> TokenRule:
    """The rule called ``name``; a ``ValueError`` listing the known ones otherwise."""
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown token rule {name!r}: choose one of {', '.join(RULES)}") \
            from None
