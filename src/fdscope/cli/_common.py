"""Options and helpers shared by several commands (time range, output format)."""

from __future__ import annotations

import time
from typing import Any

import click

from fdscope.logs.timerange import parse_time


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


def time_range_options(f: Any) -> Any:
    """Add the shared ``--start``/``--end`` flags (ms since the epoch, UTC, or None)."""
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
