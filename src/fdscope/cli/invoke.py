"""``fdscope invoke``: run a handler N times in the local Lambda, write the run directory."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.cli._common import stdout_console
from fdscope.cli._output import force_option
from fdscope.errors import DoctorError

with extra("cli"):
    import click


def parse_env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings to a dict; raises click.BadParameter on a bad one."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        out[key.strip()] = value
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """Variables from a dotenv file (``KEY=VALUE``, ``#`` comments, ``export``)
    or a JSON file: a flat object, SAM's ``{"Parameters": {...}}`` or
    ``{"<Function>": {...}}`` with a single function. Raises DoctorError."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DoctorError(f"cannot read env file {path}: {exc}")
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DoctorError(f"env file {path} is not valid JSON: {exc}")
        if not isinstance(data, dict):
            raise DoctorError(f"env file {path}: expected a JSON object")
        if isinstance(data.get("Parameters"), dict):
            data = data["Parameters"]
        elif len(data) == 1 and isinstance(next(iter(data.values())), dict):
            data = next(iter(data.values()))
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise DoctorError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _endpoint_option(value: str | None) -> str | None:
    """``--aws-endpoint``: 'local' or an http(s) URL, else a usage error."""
    from fdscope.local import validate_endpoint

    if value is None:
        return None
    try:
        return validate_endpoint(value)
    except DoctorError as exc:
        raise click.BadParameter(str(exc).partition(": ")[2], param_hint="--aws-endpoint")


def load_event(event_file: str | None, event_type: str | None) -> Any:
    """The event to send: a JSON file (``-`` = stdin), a bundled type, or ``{}``."""
    from fdscope.local import sample_event

    if event_file and event_type:
        raise click.UsageError("use --event or --event-type, not both")
    if event_type:
        return sample_event(event_type)
    if event_file:
        try:
            text = sys.stdin.read() if event_file == "-" else Path(event_file).read_text()
        except OSError as exc:
            raise DoctorError(f"cannot read event file {event_file}: {exc}")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DoctorError(f"event file {event_file} is not valid JSON: {exc}")
    return {}


@click.command("invoke")
@click.argument("handler")
@click.option(
    "-n",
    "--invocations",
    "n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many invocations, one at a time.",
)
@click.option("--event", "event_file", metavar="FILE", help="JSON event to send ('-' = stdin).")
@click.option(
    "--event-type",
    type=click.Choice(["alb", "apigw-http", "apigw-rest", "eventbridge", "s3", "scheduled", "sqs"]),
    help="Send a bundled sample event.",
)
@click.option(
    "--code-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the handler's module (default: current folder; a SAM build folder works).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory (default: fdscope-runs/<function>-<time>).",
)
@click.option(
    "--fd-limit",
    type=click.IntRange(min=16),
    default=1024,
    show_default=True,
    help="RLIMIT_NOFILE, soft and hard (Lambda: 1024).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Function timeout in seconds; a timeout ends the environment.",
)
@click.option(
    "--memory",
    "memory_mb",
    type=click.IntRange(min=128),
    default=128,
    show_default=True,
    help="Lambda's memory size in MB: over it the environment ends as on Lambda "
    "(Runtime.OutOfMemory); a memory cgroup where one is writable, else polling (run.json).",
)
@click.option(
    "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Set a variable (repeatable)."
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Variables from a dotenv or JSON file (SAM's env.json works).",
)
@click.option(
    "--python", "python", metavar="PATH", help="The interpreter to run the function with."
)
@click.option(
    "--runtime",
    "runtime",
    metavar="NAME",
    help="Lambda's runtime: python3.X, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x "
    "(default: from the handler's file).",
)
@click.option("--node", "node", metavar="PATH", help="The node to run a Node.js function with.")
@click.option(
    "--runtime-client",
    "node_client",
    type=click.Choice(["auto", "ric", "standin"]),
    default="auto",
    show_default=True,
    help="Node.js: aws-lambda-ric (function's node_modules or `fdscope setup node`), "
    "fdscope's stand-in, or the first available.",
)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A layer folder; its python/ goes on the path as /opt/python (repeatable).",
)
@click.option("--freeze", is_flag=True, help="SIGSTOP the environment between invocations.")
@click.option("--allow-network", is_flag=True, help="Allow connections beyond loopback.")
@click.option(
    "--aws-endpoint",
    metavar="URL|local",
    help="AWS_ENDPOINT_URL for the function, with dummy credentials: 'local' serves moto "
    "with keep-alive on 127.0.0.1 for the run (fdscope[local-aws]); a URL is checked once "
    "and a warning says when it closes connections.",
    callback=lambda ctx, param, value: _endpoint_option(value),
)
@click.option(
    "--region",
    metavar="REGION",
    help="AWS_REGION and AWS_DEFAULT_REGION for the function (default: us-east-1).",
)
@click.option("--track-origins", is_flag=True, help="Record where descriptors are created.")
@click.option("--monitor", is_flag=True, help="Run the in-function monitor (EMF per invocation).")
@click.option("--gc-between", is_flag=True, help="Run gc.collect() after each invocation.")
@click.option(
    "--sample",
    "sample_mode",
    type=click.Choice(["full", "count", "none"]),
    default="full",
    show_default=True,
    help="After each invocation: every descriptor with its kind, the count only, or nothing.",
)
@click.option("--function-name", help="Function name for log group and ARN.")
@force_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def invoke(
    handler: str,
    n: int,
    event_file: str | None,
    event_type: str | None,
    code_root: Path | None,
    out_dir: Path | None,
    fd_limit: int,
    timeout_s: float,
    memory_mb: int,
    env_pairs: tuple[str, ...],
    env_file: Path | None,
    python: str | None,
    runtime: str | None,
    node: str | None,
    node_client: str,
    layers: tuple[Path, ...],
    freeze: bool,
    allow_network: bool,
    aws_endpoint: str | None,
    region: str | None,
    track_origins: bool,
    monitor: bool,
    gc_between: bool,
    sample_mode: str,
    function_name: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Run HANDLER N times as Lambda runs it and write the run directory.

    HANDLER is module.function (with --code-root) or path/to/app.py:function
    (Node.js: path/to/app.js:handler, .mjs, .cjs, or dir/module.handler).
    Exit code 0 when every invocation succeeded, 1 when any failed (error,
    timeout, crash, EMFILE), 2 on a usage or setup error, 130 on Ctrl-C and 143 on
    SIGTERM (run.json then says the run was interrupted). A --out that holds another
    run is refused unless --force, which clears it first.
    """
    from fdscope.local import LocalLambda, Sample, handler_endpoint, select_runtime

    env: dict[str, str] = {}
    if env_file is not None:
        env.update(read_env_file(env_file))
    env.update(parse_env_pairs(env_pairs))
    event = load_event(event_file, event_type)
    chosen = select_runtime(
        handler, code_root, runtime=runtime, python=python, node=node, client=node_client
    )
    if out_dir is None:
        name = function_name or chosen.parse_handler(handler, code_root).code_root.name
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out_dir = Path("fdscope-runs") / f"{name or 'function'}-{stamp}"
    stack = contextlib.ExitStack()
    endpoint = stack.enter_context(handler_endpoint(aws_endpoint))  # stopped with the run
    try:
        fn = LocalLambda(
            handler,
            code_root=code_root,
            out_dir=out_dir,
            fd_limit=fd_limit,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            env=env,
            python=python,
            layers=list(layers),
            freeze=freeze,
            allow_network=allow_network,
            aws_endpoint=endpoint.url if endpoint else None,
            region=region or "us-east-1",
            track_origins=track_origins,
            monitor=monitor,
            gc_between=gc_between,
            sample=_SAMPLE_MODES[sample_mode],
            function_name=function_name,
            runtime=chosen,
            force=force,
        )
    except BaseException:
        stack.close()
        raise
    samples: list[Sample] = []
    with extra("cli"):
        from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    if endpoint is not None and endpoint.warning:
        console.print(f"[yellow]warning[/]: {endpoint.warning}", highlight=False)
    with interrupts_reported(out_dir), stack, fn:
        if quiet:
            for _ in range(n):
                samples.append(fn.invoke(event))
        else:
            with extra("cli"):
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(
                TextColumn("[bold]invoke[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("invoke", total=n, info="")
                for _ in range(n):
                    s = fn.invoke(event)
                    samples.append(s)
                    bar.update(task, advance=1, info=_progress_info(s))
    if not quiet:
        _summary(stdout_console(), fn.out_dir, samples, fd_limit)
    for line in sandbox_lines(fn.out_dir, samples, fn.handler.code_root):
        console.print(line, highlight=False, markup=False)
    if any(s.status != "ok" for s in samples):
        sys.exit(1)


_SAMPLE_MODES: dict[str, bool | str] = {"full": True, "count": "count", "none": False}


@contextlib.contextmanager
def interrupts_reported(out_dir: Path) -> Iterator[None]:
    """SIGTERM ends the block as an exception (the run's processes are killed and
    ``run.json`` says it was interrupted), then exit 143 with one line; Ctrl-C says
    the same and exits 130."""
    from fdscope.local import Terminated, sigterm_raises

    try:
        with sigterm_raises():
            yield
    except Terminated:
        click.echo(
            f"terminated (SIGTERM): the run in {out_dir} is marked interrupted in run.json",
            err=True,
        )
        sys.exit(143)
    except KeyboardInterrupt:
        click.echo(
            f"interrupted (Ctrl-C): the run in {out_dir} is marked interrupted in run.json",
            err=True,
        )
        sys.exit(130)


def sandbox_lines(out_dir: Path, samples: list[Any], code_root: Path) -> list[str]:
    """What the run's sandbox lacked, a capped log and the Lambda differences met."""
    from fdscope.local import lambda_differences, read_run, sandbox_lacks

    run = read_run(Path(out_dir))
    lines = [f"sandbox: {line}" for line in sandbox_lacks(run.get("sandbox") or {})]
    logs = run.get("logs") or {}
    if logs.get("capped"):
        lines.append(
            f"logs: events.jsonl stopped at {logs.get('cap_bytes')} bytes; "
            f"{logs.get('dropped_events')} events of the function's output dropped"
        )
    return lines + lambda_differences(samples, str(code_root))


def _progress_info(s: Any) -> str:
    fds = "-" if s.fd_count is None else str(s.fd_count)
    return f"fds {fds}  {s.status}  {s.duration_ms:.1f} ms"


def _summary(console: Any, out_dir: Path, samples: list[Any], fd_limit: int) -> None:
    with extra("cli"):
        from rich.table import Table

    counts: dict[str, int] = {}
    for s in samples:
        counts[s.status] = counts.get(s.status, 0) + 1
    fds = [s.fd_count for s in samples if s.fd_count is not None]
    table = Table(show_header=False, box=None)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("invocations", str(len(samples)))
    table.add_row("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    table.add_row("cold starts", str(sum(1 for s in samples if s.cold_start)))
    if fds:
        table.add_row(
            "descriptors", f"first {fds[0]}, last {fds[-1]}, peak {max(fds)} of {fd_limit}"
        )
    from fdscope.metrics import percentile

    durations = [s.duration_ms for s in samples]
    table.add_row(
        "duration", f"median {percentile(durations, 50):.2f} ms, max {max(durations):.2f} ms"
    )
    console.print(table)
    click.echo(f" run directory  {out_dir}")  # never wrapped: scripts read it
