"""The engine's query error: line, column, a caret under the spot, what was expected, a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from fdscope.errors import QueryError

SNIPPET_WIDTH = 120  # characters of the query line shown around the spot of an error


def clip(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was (errors echo user text)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class QuerySyntaxError(QueryError):
    """A query the engine cannot read or run; points at the character it is about.

    Attributes: ``line`` and ``column`` (1-based), ``offset`` (0-based into the
    query), ``expected`` (what would have been accepted, or None),
    ``suggestion`` (the closest known name, or None), ``snippet`` (the query
    line with a caret under the spot).
    """

    def __init__(
        self,
        message: str,
        query: str,
        offset: int,
        *,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        offset = max(0, min(offset, len(query)))
        message = clip(message)
        self.reason = message
        self.query = query
        self.offset = offset
        self.expected = expected
        self.suggestion = suggestion
        before = query[:offset]
        self.line = before.count("\n") + 1
        line_start = before.rfind("\n") + 1
        self.column = offset - line_start + 1
        line_end = query.find("\n", offset)
        text = query[line_start : line_end if line_end != -1 else len(query)]
        # a window of the line around the spot: a query of 80 KB is not echoed whole
        col = self.column - 1
        lo, hi = max(0, col - SNIPPET_WIDTH // 2), col + SNIPPET_WIDTH // 2
        shown = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
        pad = "".join("\t" if ch == "\t" else " " for ch in text[lo:col])
        self.snippet = f"  {shown}\n  {' ' if lo else ''}{pad}^"
        parts = [f"line {self.line}, column {self.column}: {message}"]
        if suggestion and len(suggestion) > 80:
            suggestion = None
        if suggestion:
            parts[0] += f" (did you mean '{suggestion}'?)"
        if expected:
            parts[0] += f"; expected {expected}"
        super().__init__(parts[0] + "\n" + self.snippet)


def closest(name: str, known: Iterable[str]) -> str | None:
    """Return the known name closest to ``name`` (case-insensitive), or None."""
    table = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(name.lower(), list(table), n=1, cutoff=0.6)
    return table[hits[0]] if hits else None
