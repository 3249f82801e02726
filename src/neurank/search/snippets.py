"""Short, query-centred excerpts of a document for result lists."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w{3,}")


def snippet(text: str, query: str, width: int = 240) -> str:
    """About `width` characters of `text` around the first query word found in it."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    lowered = text.lower()
    positions = [p for w in _WORD.findall(query.lower()) if (p := lowered.find(w)) >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    start = min(start, len(text) - width)
    if start > 0:  # begin on a word boundary
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = start + width
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("…" if start > 0 else "") + text[start:end] + ("…" if end < len(text) else "")
