"""Helpers for the origins tests (a module of its own so tests can import it)."""

from __future__ import annotations

import re
from pathlib import Path

from fdscope import origins


def line_of(path: str | Path, marker: str) -> int:
    """The number of the one line of ``path`` that has the comment ``# <marker>``."""
    hits = [
        n
        for n, text in enumerate(Path(path).read_text().splitlines(), 1)
        if re.search(r"# " + re.escape(marker) + r"(\s|$)", text)
    ]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def groups_at(report: origins.Report, path: str | Path, line: int) -> list[origins.Group]:
    return [g for g in report.groups if g.site.file == str(path) and g.site.line == line]
