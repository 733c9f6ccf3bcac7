"""Options and helpers shared by several commands (time range, output format)."""

from __future__ import annotations

import time
from typing import Any

from fdscope._extras import extra
from fdscope.logs.timerange import parse_time

with extra("cli"):
    import click


class TimeParam(click.ParamType):
    """``--start``/``--end``: ISO 8601, epoch seconds/ms, or relative ('1h' = one hour ago)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_time(str(value), now_ms=int(time.time() * 1000))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()


def _iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def time_range_options(f: Any) -> Any:
    """Add the shared ``--start``/``--end`` flags (ms since the epoch, UTC, or None);
    a start after the end is a usage error, not an empty answer."""
    import functools

    command = f

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        start, end = kwargs.get("start"), kwargs.get("end")
        if start is not None and end is not None and start > end:
            raise click.BadParameter(
                f"the start ({_iso(start)}) is after the end ({_iso(end)})",
                param_hint="'--start' / '--end'",
            )
        return command(*args, **kwargs)

    f = checked
    f = click.option(
        "--end", type=TIME, default=None, help="End of the time range (ISO, epoch, or '10m')."
    )(f)
    f = click.option(
        "--start",
        type=TIME,
        default=None,
        help="Start of the time range: ISO 8601, epoch s/ms, or relative like 1h, 30m, 2d ago.",
    )(f)
    return f
