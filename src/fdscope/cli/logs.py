"""``fdscope logs pull`` (download a log group) and ``fdscope triage`` (the EMFILE-night answer)."""

from __future__ import annotations

import time
from typing import Any

from fdscope._extras import extra
from fdscope.cli._common import aws_options, time_range_options
from fdscope.cli._output import OutputExists, force_option

with extra("cli"):
    import click

_HOUR_MS = 3_600_000


@click.group("logs")
def logs() -> None:
    """Log events: download a CloudWatch log group for offline work."""


@logs.command("pull")
@click.option(
    "--log-group-name",
    "--log-group",
    "log_groups",
    multiple=True,
    required=True,
    help="Repeatable.",
)
@aws_options
@time_range_options
@click.option("--filter-pattern", default=None, help="A CloudWatch filter pattern.")
@click.option(
    "--log-stream-name-prefix",
    "--stream-prefix",
    "stream_prefix",
    default=None,
    help="Only streams whose name starts so.",
)
@click.option("--gzip", "compress", is_flag=True, help="Write .jsonl.gz.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary.")
@force_option
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
def pull(
    log_groups: tuple[str, ...],
    start: int | None,
    end: int | None,
    filter_pattern: str | None,
    stream_prefix: str | None,
    compress: bool,
    quiet: bool,
    force: bool,
    out_dir: str,
) -> None:
    """Download events (FilterLogEvents, every page) into DIR/<group>.jsonl.

    The time range defaults to the last hour. Credentials, region and endpoint
    come from --profile, --region, --endpoint-url or the usual AWS settings
    (AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL).
    The files are JSON lines of log events: fdscope query, triage and metrics
    read them directly. A file that exists is replaced only with --force.

    Example: fdscope logs pull --log-group-name /aws/lambda/orders --start-time 1h logs/
    """
    from fdscope.logs import pull_events

    now = int(time.time() * 1000)
    t1 = end if end is not None else now
    t0 = start if start is not None else t1 - _HOUR_MS
    for group in log_groups:

        def progress(pages: int, events: int, group: str = group) -> None:
            if not quiet:
                click.echo(f"\r{group}: {pages} page(s), {events} event(s)", nl=False, err=True)

        try:
            res = pull_events(
                group,
                out_dir,
                start=t0,
                end=t1,
                filter_pattern=filter_pattern,
                stream_prefix=stream_prefix,
                compress=compress,
                on_page=progress,
                replace=force,
            )
        except FileExistsError as exc:
            raise OutputExists(
                f"{exc.filename} exists: choose another directory, or add --force to replace it"
            ) from None
        if not quiet:
            click.echo("", err=True)
            click.echo(
                f"{res.path}: {res.events} event(s) from {res.streams} stream(s), "
                f"{res.pages} page(s)"
            )


@click.command("triage")
@click.argument("sources", metavar="LOGS", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--log-group-name",
    "--log-group",
    "log_groups",
    multiple=True,
    help="Triage on CloudWatch Logs Insights over this log group (repeatable).",
)
@aws_options
@time_range_options
@click.option("--json", "as_json", is_flag=True, help="Print the fdscope.triage/1 JSON.")
@click.option(
    "--show-queries", is_flag=True, help="Print the Logs Insights queries triage runs and exit."
)
@click.option("--group-name", default=None, help="The log group of local events that name none.")
@click.pass_context
def triage(
    ctx: click.Context,
    sources: tuple[str, ...],
    log_groups: tuple[str, ...],
    start: int | None,
    end: int | None,
    as_json: bool,
    show_queries: bool,
    group_name: str | None,
) -> None:
    """After an EMFILE night: EMFILE in all its disguises, timeouts, cold starts, per stream.

    LOGS are files, .gz, directories or run directories; or give --log-group to
    run the same queries on CloudWatch (time range default: the last 24 hours).
    Exit code 0 when no stream failed, 1 when any EMFILE, timeout or crash was
    found, 2 on a usage error.

    Example: fdscope triage fdscope-runs/orders-0301/   ·   fdscope triage --log-group
    /aws/lambda/orders --start 12h
    """
    from fdscope.insights import triage as tri

    if show_queries:
        for name, q in tri.QUERIES.items():
            click.echo(f"# {name}\n{q}\n")
        return
    if bool(sources) == bool(log_groups):
        raise click.UsageError("give LOGS or --log-group (one of them)")
    result: Any
    if log_groups:
        now = int(time.time() * 1000)
        t1 = end if end is not None else now
        t0 = start if start is not None else t1 - 24 * _HOUR_MS
        result = tri.triage_cloudwatch(list(log_groups), start=t0, end=t1)
    else:
        result = tri.triage(list(sources), start=start, end=end, log_group=group_name)
    click.echo(result.json() if as_json else result.text())
    if result.skipped or result.stopped:
        from fdscope.logs import describe_skipped

        note = describe_skipped(
            {
                "reasons": dict(sorted(result.skipped.items())),
                "files": result.skipped_files,
                "stopped": result.stopped,
            }
        )
        click.echo(f"fdscope: {note}", err=True)
    if result.failing_streams:
        ctx.exit(1)
