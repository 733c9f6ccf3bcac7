"""Options and helpers shared by several commands: the AWS CLI's names and value syntax.

Where fdscope does what an AWS CLI option does, the AWS CLI's name works (time ranges
``--start-time``/``--end-time``, ``--dimensions Name=..,Value=..`` or its JSON form,
``--region``/``--profile``/``--endpoint-url`` on every command that calls AWS);
fdscope's older spellings of the same thing stay as aliases, and spellings that meant
something else (``-n`` for evaluation periods, ``-o`` for a path) keep working with a
deprecation warning on stderr. docs/cli.md has the table.
"""

from __future__ import annotations

import time
from typing import Any

from fdscope._extras import extra
from fdscope.logs.timerange import parse_time

with extra("cli"):
    import click


class TimeParam(click.ParamType):
    """``--start-time``/``--end-time``: ISO 8601, epoch seconds/ms (as the AWS CLI and the
    Logs API take them), or relative ('1h' = one hour ago)."""

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
    """Add the shared ``--start-time``/``--end-time`` flags (aliases ``--start``/``--end``;
    ms since the epoch, UTC, or None in ``start``/``end``); a start after the end is a
    usage error, not an empty answer."""
    import functools

    command = f

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        start, end = kwargs.get("start"), kwargs.get("end")
        if start is not None and end is not None and start > end:
            raise click.BadParameter(
                f"the start ({_iso(start)}) is after the end ({_iso(end)})",
                param_hint="'--start-time' / '--end-time'",
            )
        return command(*args, **kwargs)

    f = checked
    f = click.option(
        "--end-time",
        "--end",
        "end",
        type=TIME,
        default=None,
        help="End of the time range (ISO, epoch, or '10m').",
    )(f)
    f = click.option(
        "--start-time",
        "--start",
        "start",
        type=TIME,
        default=None,
        help="Start of the time range: ISO 8601, epoch s/ms, or relative like 1h, 30m, 2d ago.",
    )(f)
    return f


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr: ``fdscope: -n is deprecated here, use --evaluation-periods``."""
    click.echo(f"fdscope: {old} is deprecated here, use {new}", err=True)


def deprecated_option(flag: str, dest: str, replacement: str, **opts: Any) -> Any:
    """A hidden old spelling ``flag`` that fills the parameter ``dest`` (as if
    ``replacement`` had been given) and says it is deprecated on stderr. A repeatable
    ``dest`` gets the old values added to the new ones."""
    import functools

    key = "deprecated_" + flag.lstrip("-").replace("-", "_") + "_" + dest

    def deco(f: Any) -> Any:
        @functools.wraps(f)
        def merged(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(key, None)
            if value not in (None, (), False):
                warn_deprecated(flag, replacement)
                current = kwargs.get(dest)
                if isinstance(value, tuple):
                    kwargs[dest] = tuple(current or ()) + value
                else:
                    kwargs[dest] = value
            return f(*args, **kwargs)

        return click.option(flag, key, hidden=True, **opts)(merged)

    return deco


class DimensionsParam(click.ParamType):
    """``--dimensions``: the AWS CLI's shorthand ``Name=FunctionName,Value=api`` (several
    pairs separated by spaces in one value), its JSON form
    ``[{"Name": "FunctionName", "Value": "api"}]``, or fdscope's ``FunctionName=api``.
    Converts to a list of (name, value) pairs."""

    name = "dimensions"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[tuple[str, str]]:
        if isinstance(value, list):
            return value
        text = str(value).strip()
        if text.startswith(("[", "{")):
            return self._json(text, param, ctx)
        out: list[tuple[str, str]] = []
        for item in text.split():
            fields = dict(_shorthand(item))
            if set(fields) == {"Name", "Value"}:
                out.append((fields["Name"], fields["Value"]))
            elif "," not in item and "=" in item:  # fdscope's NAME=VALUE
                k, _, v = item.partition("=")
                out.append((k.strip(), v.strip()))
            else:
                self.fail(
                    f"{item!r}: use Name=NAME,Value=VALUE (the AWS CLI's form), "
                    '[{"Name": "NAME", "Value": "VALUE"}] or NAME=VALUE',
                    param,
                    ctx,
                )
        if not out:
            self.fail("empty dimension", param, ctx)
        return out

    def _json(
        self, text: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[tuple[str, str]]:
        import json

        try:
            doc = json.loads(text)
        except ValueError as exc:
            self.fail(f"not JSON: {exc}", param, ctx)
        items = doc if isinstance(doc, list) else [doc]
        out = []
        for d in items:
            if not (isinstance(d, dict) and {"Name", "Value"} <= set(d)):
                self.fail(f'{d!r}: each dimension is {{"Name": ..., "Value": ...}}', param, ctx)
            out.append((str(d["Name"]), str(d["Value"])))
        return out


def _shorthand(item: str) -> list[tuple[str, str]]:
    pairs = []
    for part in item.split(","):
        k, sep, v = part.partition("=")
        if not sep:
            return []
        pairs.append((k.strip(), v.strip()))
    return pairs


DIMENSIONS = DimensionsParam()


def dimensions_dict(values: Any) -> dict[str, str] | None:
    """The pairs of every ``--dimensions`` given, as one dict (None when none)."""
    out: dict[str, str] = {}
    for pairs in values or ():
        for k, v in pairs:
            out[k] = v
    return out or None


def aws_options(f: Any) -> Any:
    """``--region``, ``--profile`` and ``--endpoint-url`` for a command that calls AWS,
    as the AWS CLI has them. They hold for every client the command creates (the
    environment and boto3's default session for the command's time, then put back); a
    command that names ``region``/``endpoint_url``/``profile`` parameters gets them too."""
    import functools
    import inspect

    command = f
    wanted = set(inspect.signature(command).parameters)

    @functools.wraps(command)
    def configured(*args: Any, **kwargs: Any) -> Any:
        given = {k: kwargs.get(k) for k in ("region", "profile", "endpoint_url")}
        for k in given:
            if k not in wanted:
                kwargs.pop(k, None)
        with aws_settings(**given):
            return command(*args, **kwargs)

    f = configured
    f = click.option(
        "--endpoint-url",
        metavar="URL",
        default=None,
        help="The AWS endpoint fdscope's own calls go to (e.g. a local server).",
    )(f)
    f = click.option(
        "--profile", metavar="NAME", default=None, help="The AWS profile (~/.aws/config)."
    )(f)
    f = click.option("--region", metavar="REGION", default=None, help="The AWS region.")(f)
    return f


class aws_settings:  # noqa: N801 - a context manager used like a function
    """Region, profile and endpoint for the clients created inside (None: unchanged)."""

    def __init__(
        self, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None
    ) -> None:
        self.env = {
            name: value
            for name, value in (
                ("AWS_DEFAULT_REGION", region),
                ("AWS_ENDPOINT_URL", endpoint_url),
                ("AWS_PROFILE", profile),
            )
            if value
        }
        self.profile = profile
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> aws_settings:
        import os

        for name, value in self.env.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value
        self._reset_session()
        return self

    def __exit__(self, *exc: object) -> None:
        import os

        for name, old in self.saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self._reset_session()

    def _reset_session(self) -> None:
        """boto3's default session reads the profile once: a new one after a change
        (region and endpoint are read from the environment at each client's creation)."""
        if self.profile:
            with extra("aws", "choosing an AWS profile"):
                import boto3

            boto3.DEFAULT_SESSION = None  # type: ignore[attr-defined]


# a table printed into a pipe or a file is not cut to 80 columns: rows stay whole
PIPE_WIDTH = 10_000


def stdout_console(**kwargs: Any) -> Any:
    """A rich Console for stdout: the terminal's width on a terminal; when stdout is a
    pipe or a file, $COLUMNS if set, else wide enough that no table wraps."""
    import os
    import sys

    with extra("cli"):
        from rich.console import Console

    if "width" not in kwargs and not sys.stdout.isatty():
        kwargs["width"] = int(os.environ.get("COLUMNS") or 0) or PIPE_WIDTH
    return Console(**kwargs)
