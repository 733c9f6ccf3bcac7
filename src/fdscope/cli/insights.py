"""``fdscope query``: Logs Insights queries over local logs, or on CloudWatch with --log-group."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.cli._common import aws_options, stdout_console, time_range_options

with extra("cli"):
    import click


def json_document(result: Any) -> dict[str, Any]:
    """``--output json``: the shape of ``aws logs get-query-results``.

    ``{"results": [rows], "statistics": {...}, "status": "Complete"}``: each row stays an
    object keyed by field (fdscope's row form, not CloudWatch's ``[{"field", "value"}]``
    lists); ``statistics`` is the engine's (``recordsMatched``, and on CloudWatch
    ``recordsScanned``/``bytesScanned``) with ``skipped``, ``skippedFiles``, ``stopped``
    and ``badUtf8`` always present.
    """
    statistics = dict(result.statistics)
    # what was skipped, always there (empty when nothing was: issue 15), so scripts rely on it
    for key in ("skipped", "skippedFiles", "stopped"):
        statistics.setdefault(key, {})
    statistics.setdefault("badUtf8", 0)
    return {"results": result.rows, "statistics": statistics, "status": "Complete"}


def _print(result: Any, fmt: str) -> None:
    cols, rows = result.columns, result.rows
    if fmt == "json":
        click.echo(json.dumps(json_document(result), indent=2, ensure_ascii=False))
    elif fmt == "jsonl":
        for r in rows:
            click.echo(json.dumps(r, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in cols])
        click.echo(buf.getvalue(), nl=False)
    else:
        with extra("cli"):
            from rich.table import Table

        table = Table(show_lines=False, header_style="bold")
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*["" if r.get(c) is None else str(r[c]) for c in cols])
        console = stdout_console()
        console.print(table)
        console.print(f"[dim]{len(rows)} row(s)[/dim]")


@click.command("query")
@click.argument("query_text", metavar="QUERY", required=False)
@click.argument("files", nargs=-1, type=click.Path())
@click.option(
    "--query-string",
    default=None,
    metavar="QUERY",
    help="The query, as start-query takes it (then every argument is a file).",
)
@click.option(
    "--log-group-name",
    "--log-group",
    "log_groups",
    multiple=True,
    help="Run on CloudWatch over this log group (repeatable).",
)
@aws_options
@time_range_options
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@click.option(
    "--explain", is_flag=True, help="Print the plan and the DuckDB SQL instead of running."
)
@click.option(
    "--group-name", default=None, help="The @log value for local events that name no log group."
)
@click.option(
    "--source",
    "named_sources",
    multiple=True,
    metavar="NAME=PATH",
    help="A named input for SOURCE, join and subqueries: a log group name and its files or run "
    "directory (repeatable; the same NAME again adds files).",
)
@click.option(
    "--lookup",
    "lookup_tables",
    multiple=True,
    metavar="NAME=FILE",
    help="A lookup table for the lookup command: a CSV file with a header row, or JSON objects.",
)
def query(
    query_text: str | None,
    files: tuple[str, ...],
    query_string: str | None,
    log_groups: tuple[str, ...],
    start: int | None,
    end: int | None,
    fmt: str,
    as_json: bool,
    explain: bool,
    group_name: str | None,
    named_sources: tuple[str, ...] = (),
    lookup_tables: tuple[str, ...] = (),
) -> None:
    """Run a CloudWatch Logs Insights QUERY over FILES (logs, .gz, directories, run directories).

    Example: fdscope query 'filter @message like /ERROR/ | sort @timestamp desc | limit 50' logs/

    On CloudWatch, with start-query's words: fdscope query 'fields @timestamp, @message'
    --log-group-name /aws/lambda/api --start-time 1712829536 --end-time 1712833136
    --region eu-west-1
    """
    from fdscope import insights

    if query_string is not None:
        files = ((query_text,) if query_text is not None else ()) + files
        query_text = query_string
    if query_text is None:
        raise click.UsageError("give the QUERY (or --query-string QUERY)")
    for f in files:
        if not Path(f).exists():
            raise click.BadParameter(f"{f!r} does not exist", param_hint="'FILES...'")
    if as_json:
        fmt = "json"
    named: dict[str, list[str]] = {}
    for spec in named_sources:
        name, path = _name_eq(spec, "--source")
        named.setdefault(name, []).append(path)
    lookups = dict(_name_eq(spec, "--lookup") for spec in lookup_tables)
    if explain:
        from fdscope.insights import read_lookup

        p = insights.plan(
            query_text,
            window=(start, end),
            lookups={k: read_lookup(v)[0] for k, v in lookups.items()},
        )
        click.echo("plan:")
        click.echo(p.explain())
        click.echo("\nsql:")
        click.echo(insights.to_sql(p))
        return
    if log_groups:
        if files:
            raise click.UsageError("give either FILES or --log-group, not both")
        from fdscope.insights import cloudwatch

        now = int(time.time() * 1000)
        t1 = end if end is not None else now
        t0 = start if start is not None else t1 - 3_600_000
        with extra("cli"):
            from rich.console import Console

        err = Console(stderr=True)
        with err.status("starting query…") as status:

            def progress(state: str, stats: dict[str, Any]) -> None:
                status.update(
                    f"{state}: {stats.get('recordsMatched', 0):.0f} matched, "
                    f"{stats.get('recordsScanned', 0):.0f} scanned, "
                    f"{stats.get('bytesScanned', 0) / 1e6:.1f} MB"
                )

            try:
                result = cloudwatch.execute(
                    query_text, list(log_groups), start=t0, end=t1, on_progress=progress
                )
            except KeyboardInterrupt:
                err.print("[yellow]stopped the query (StopQuery)[/yellow]")
                sys.exit(130)
        _print(result, fmt)
        return
    if not files and not named:
        raise click.UsageError("give log FILES or --log-group NAME")
    result = insights.execute(
        query_text,
        list(files),
        start=start,
        end=end,
        log_group=group_name,
        named=named,
        lookups=lookups,
    )
    _print(result, fmt)
    note = skipped_note(result.statistics)
    if note:
        click.echo(note, err=True)


def _name_eq(spec: str, option: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{spec!r}: expected NAME=PATH", param_hint=option)
    if not Path(path).exists():
        raise click.BadParameter(f"{path!r} does not exist", param_hint=option)
    return name, path


def skipped_note(statistics: dict[str, Any]) -> str | None:
    """One line on what the log readers skipped, e.g. ``skipped 4 malformed line(s) (bad-json 4)``."""
    skipped: dict[str, int] = statistics.get("skipped") or {}
    notes = [f"note: {n}" for n in statistics.get("notes") or ()]
    parts: list[str] = []
    if skipped:
        why = ", ".join(f"{k} {v}" for k, v in skipped.items())
        parts.append(f"skipped {sum(skipped.values())} malformed line(s) ({why})")
    if statistics.get("badUtf8"):
        parts.append(
            f"{statistics['badUtf8']} line(s) had bytes that are not UTF-8 (read as U+FFFD)"
        )
    # which files, and where a truncated one stopped (issue 15: nothing skipped unnamed)
    files: dict[str, dict[str, int]] = statistics.get("skippedFiles") or {}
    stopped: dict[str, str] = statistics.get("stopped") or {}
    where = [
        f"  {f}: "
        + ", ".join(f"{k} {v}" for k, v in c.items())
        + (f"; {stopped[f]}" if f in stopped else "")
        for f, c in files.items()
    ]
    where += [f"  {f}: {w}" for f, w in stopped.items() if f not in files]
    return "\n".join(notes + (["; ".join(parts)] if parts else []) + where) or None
