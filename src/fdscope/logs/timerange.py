"""Time-range parsing shared by every ``--start``/``--end`` flag in fdscope."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)(?:\s*ago)?\s*$", re.I)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_time(text: str, *, now_ms: int) -> int:
    """Return ms since the epoch (UTC) for ``text``.

    Accepts a relative span meaning "that long before now" (``90s``, ``30m``,
    ``1h``, ``2d``, ``1w``, optionally followed by ``ago``), epoch seconds or
    milliseconds (numbers above 1e11 are taken as ms), ``now``, and ISO 8601
    (a naive time is UTC). Raises ``ValueError`` with what was expected.
    """
    s = text.strip()
    if s.lower() == "now":
        return now_ms
    m = _RELATIVE.match(s)
    if m:
        return now_ms - int(float(m.group(1)) * _UNIT_MS[m.group(2).lower()])
    if re.fullmatch(r"\d+(\.\d+)?", s):
        v = float(s)
        return int(v) if v > 1e11 else int(v * 1000)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: expected ISO 8601 (2026-11-28T03:00:00Z), "
            "epoch seconds or ms, or a span ago like 30m, 1h, 2d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
