"""What the doctor reads from a run directory besides the samples."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file; torn or non-object lines are skipped, and
    nothing comes from a file that cannot be read."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict):
                    yield doc
    except OSError:
        return


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


def new_connections(out_dir: Path) -> float | None:
    """Median ``new_connections`` of the monitor's EMF records, None without them."""
    from fdscope.emf import parse_events
    from fdscope.logs import read_events

    events = out_dir / "events.jsonl"
    if not events.exists():
        return None
    # LogEvent is a frozen dataclass; emf's _Event protocol declares settable attributes,
    # which mypy holds against it (the protocol's members would better be read-only)
    records: Iterable[Any] = read_events(events)
    values = [
        dp.value
        for dp in parse_events(records)
        if dp.metric == "new_connections" and "function_name" in dp.dimensions
    ]
    if not values:
        return None
    from fdscope.metrics import percentile

    return float(percentile(values, 50))
