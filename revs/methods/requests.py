"""The (prefix, target token) pairs every method unlearns: the ones REVS edits (spec §6)."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import REVSConfig
from ..data.records import Record
from ..targets import TargetToken, tokens_for


def forget_requests(tokenizer, records: Sequence[Record],
                    config: REVSConfig | None = None) -> list[TargetToken]:
    """Each record's selected tokens with their prefixes, as :func:`revs.unlearn` chooses them.

    ``config`` supplies the token selection (default :class:`revs.REVSConfig`: the two rarest
    tokens, hyphens skipped).
    """
    if not records:
        raise ValueError("no records to unlearn: give at least one (prompt, secret) record")
    config = config or REVSConfig()
    return [token for record in records for token in tokens_for(tokenizer, record, config)]
