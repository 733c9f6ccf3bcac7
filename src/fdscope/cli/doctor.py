"""``fdscope doctor`` (the verdict) and ``fdscope compare`` (before/after)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.cli._common import stdout_console
from fdscope.cli._output import check_new_file, force_option
from fdscope.cli.invoke import (
    interrupts_reported,
    load_event,
    parse_env_pairs,
    read_env_file,
    sandbox_lines,
)
from fdscope.cli.invoke import invoke as _invoke
from fdscope.errors import DoctorError

with extra("cli"):
    import click

# every option of `fdscope invoke` applies to the doctor, except those the doctor sets itself
_OWN = {"n", "track_origins", "monitor", "gc_between", "sample_mode", "quiet"}
_SHARED = [p for p in _invoke.params if p.name not in _OWN and p.name != "handler"]

VERDICT_STYLE = {
    "leak": "bold red",
    "gc-bound": "bold yellow",
    "bounded": "bold green",
    "none": "bold green",
    "broken": "bold magenta",
}


@click.command("doctor")
@click.argument("handler")
@click.option(
    "--template",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The function's SAM/CloudFormation template, serverless.yml or cdk.out/*.template.json "
    "(default: found in the handler's folder or above).",
)
@click.option(
    "--function",
    "function",
    metavar="NAME",
    help="Which function of the template (logical id or name), when it declares several.",
)
@click.option(
    "-n",
    "--invocations",
    "n",
    type=click.IntRange(min=1),
    default=None,
    help="Run exactly N invocations (default: as many as the verdict needs).",
)
@click.option(
    "--max-invocations",
    type=click.IntRange(min=10),
    default=1500,
    show_default=True,
    help="Upper bound of the adaptive default.",
)
@click.option(
    "--no-gc-check", is_flag=True, help="Skip the run with a collection after each invocation."
)
@click.option(
    "--budget",
    "budget_s",
    type=click.FloatRange(min=1.0),
    default=20.0,  # fdscope.doctor.decision.BUDGET_S (not imported: the CLI starts fast)
    show_default=True,
    metavar="SECONDS",
    help="Reproduce a limit (EMFILE, out of memory) only when it is reachable in this much "
    "work (the function's own timeouts not counted); else project it.",
)
@click.option(
    "--reproduce",
    is_flag=True,
    help="Run to the limit whatever the time (within --max-invocations).",
)
@click.option("--json", "as_json", is_flag=True, help="Print summary.json instead of the report.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def doctor(
    handler: str,
    n: int | None,
    max_invocations: int,
    no_gc_check: bool,
    budget_s: float,
    reproduce: bool,
    as_json: bool,
    quiet: bool,
    **opts: Any,
) -> None:
    """Find out whether HANDLER leaks descriptors: what, from which line, how fast.

    HANDLER is module.function (with --code-root) or path/to/app.py:function.
    Exit codes: 0 none/bounded/gc-bound below the limit, 1 leak, 2 usage or
    setup error, 3 broken; 130 on Ctrl-C, 143 on SIGTERM (run.json says the run
    was interrupted). An --out that holds another run is refused unless --force.
    """
    from fdscope.doctor import diagnose, write_outputs
    from fdscope.local import (
        claim_run_dir,
        handler_endpoint,
        interruption,
        mark_interrupted,
        select_runtime,
    )

    env: dict[str, str] = {}
    env_file = opts.pop("env_file")
    if env_file is not None:
        env.update(read_env_file(env_file))
    env.update(parse_env_pairs(opts.pop("env_pairs")))
    event = load_event(opts.pop("event_file"), opts.pop("event_type"))
    out_dir = opts.pop("out_dir")
    chosen = select_runtime(
        handler,
        opts.get("code_root"),
        runtime=opts.get("runtime"),
        python=opts.get("python"),
        node=opts.get("node"),
        client=opts.get("node_client") or "auto",
    )
    # the function's own settings (memory, timeout, environment, runtime, layers, name)
    # from its template, under the options given on the command line
    chosen, settings_from = apply_template(
        click.get_current_context(), handler, chosen, opts, env,
        opts.pop("template"), opts.pop("function"),
    )  # fmt: skip
    if out_dir is None:
        name = (
            opts.get("function_name")
            or chosen.parse_handler(handler, opts.get("code_root")).code_root.name
        )
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out_dir = Path("fdscope-runs") / f"{name or 'function'}-doctor-{stamp}"
    opts["layers"] = list(opts.get("layers") or ())
    with extra("cli"):
        from rich.console import Console

    err = Console(stderr=True, quiet=quiet or as_json)
    t0 = time.monotonic()
    # out_dir is this process's from here to summary.json (a lock); another run in it is
    # refused unless --force, which clears it
    lock = claim_run_dir(Path(out_dir), force=opts.pop("force"), what="fdscope doctor")
    try:
        with interrupts_reported(out_dir), handler_endpoint(opts.pop("aws_endpoint")) as aws:
            opts["aws_endpoint"] = aws.url if aws else None
            opts["region"] = opts.get("region") or "us-east-1"
            if aws is not None and aws.warning:
                err.print(f"[yellow]warning[/]: {aws.warning}", highlight=False)
            try:
                with err.status("starting the local Lambda…") as status:
                    lines = ProgressLines(err, t0)

                    def progress(phase: str, s: Any) -> None:
                        fds = "-" if s.fd_count is None else s.fd_count
                        what = (
                            "run"
                            if phase == "run"
                            else "run with gc.collect() after each invocation"
                        )
                        mb = "" if s.rss_bytes is None else f", {s.rss_bytes / 2**20:.0f} MB"
                        text = (
                            f"{what}: invocation {s.invocation}, {fds} descriptors{mb}, {s.status}"
                        )
                        status.update(text)
                        lines.update(text)

                    d = diagnose(
                        handler,
                        out_dir=out_dir,
                        n=n,
                        event=event,
                        max_invocations=max_invocations,
                        gc_check=not no_gc_check,
                        progress=progress,
                        budget_s=budget_s,
                        reproduce=reproduce,
                        env=env,
                        run_lock=lock,
                        **opts,
                    )
                if aws is not None and aws.warning:  # in summary.json and the report
                    d = dataclasses.replace(d, notes=(*d.notes, aws.warning))
                d = settings_noted(d, settings_from)  # run.json settings_from, a note
                write_outputs(d, title=f"fdscope doctor {handler}", lock=lock)
            except BaseException as exc:  # the doctor stopped before summary.json: say so
                mark_interrupted(Path(out_dir), f"{interruption(exc)} (doctor: no summary.json)")
                raise
    finally:
        lock.release()
    if as_json:
        click.echo(json.dumps(d.summary(), indent=2, default=str))
    else:
        render(stdout_console(), d, handler, time.monotonic() - t0)
    # what the environment's sandbox could not have here, a capped log (from run.json)
    for line in sandbox_lines(Path(out_dir), [], Path(".")):
        err.print(line, highlight=False, markup=False)
    sys.exit(d.exit_code)


_SETTINGS = (  # option -> FunctionSettings attribute
    ("memory_mb", "memory_mb"),
    ("timeout_s", "timeout_s"),
    ("function_name", "function_name"),
    ("region", "region"),
)


def apply_template(
    ctx: Any,
    handler: str,
    chosen: Any,
    opts: dict[str, Any],
    env: dict[str, str],
    template: Path | None,
    function: str | None,
) -> tuple[Any, dict[str, Any]]:
    """Fill ``opts`` and ``env`` from the function's template where the command line
    did not set them; return the runtime (the template's, when it can be run) and
    ``{"from": {setting: where}, "unresolved": [...], "notes": [...], ...}``."""
    ParameterSource = click.core.ParameterSource
    from fdscope.doctor.settings import function_settings
    from fdscope.local import select_runtime

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)

    parsed = chosen.parse_handler(handler, opts.get("code_root"))
    fs, notes = function_settings(
        parsed.code_root, parsed.name, template=template, function=function,
        region=opts.get("region"),
    )  # fmt: skip
    out: dict[str, Any] = {"template": None, "from": {}, "unresolved": [], "notes": notes}
    where = out["from"]
    for opt, _ in _SETTINGS:
        where[opt] = "command line" if given(opt) else "default"
    where["runtime"] = "command line" if given("runtime") else "the handler's file"
    where["layers"] = "command line" if given("layers") else "none"
    if fs is None:
        return chosen, out
    out["template"] = fs.to_json()
    out["unresolved"] = list(fs.unresolved)
    for opt, attr in _SETTINGS:
        value = getattr(fs, attr)
        if value is not None and not given(opt):
            opts[opt] = value
            where[opt] = fs.origin.get(attr, str(fs.source))
    for key, value in fs.environment.items():
        if key in env:
            where[f"environment.{key}"] = "command line"
        else:
            env[key] = value
            where[f"environment.{key}"] = fs.origin.get(f"environment.{key}", str(fs.source))
    if fs.layer_dirs and not given("layers"):
        opts["layers"] = list(fs.layer_dirs)
        where["layers"] = fs.origin.get("layers", str(fs.source))
    if fs.runtime and not given("runtime"):
        try:
            chosen = select_runtime(
                handler, opts.get("code_root"), runtime=fs.runtime, python=opts.get("python"),
                node=opts.get("node"), client=opts.get("node_client") or "auto",
            )  # fmt: skip
            opts["runtime"] = fs.runtime
            where["runtime"] = fs.origin.get("runtime", str(fs.source))
        except DoctorError as exc:
            notes.append(f"runtime {fs.runtime} from {fs.source.name} not used: {exc}")
    return chosen, out


def settings_line(settings_from: dict[str, Any]) -> str | None:
    """``settings: memory_mb 512 from template.yaml Resources.Api, ...``, or None."""
    fs = settings_from.get("template")
    if not fs:
        return None
    shown = []
    for key, source in settings_from["from"].items():
        if source in ("default", "none", "the handler's file"):
            continue
        value = fs.get(key, "")
        shown.append(
            f"{key} {value} ({source})" if value not in ("", None) else f"{key} ({source})"
        )
    text = f"settings of {fs['function']} from {fs['source']}: " + "; ".join(shown)
    if settings_from["unresolved"]:
        text += "; could not resolve: " + "; ".join(settings_from["unresolved"])
    return text


def settings_noted(d: Any, settings_from: dict[str, Any]) -> Any:
    """run.json's ``settings_from`` (and the gc run's), and the settings line as a note."""
    from fdscope.local import write_atomic

    for run in (Path(d.out_dir) / "run.json", Path(d.out_dir) / "gc" / "run.json"):
        try:
            data = json.loads(run.read_text())
        except (OSError, ValueError):
            continue
        data["settings_from"] = settings_from
        write_atomic(run, json.dumps(data, indent=2, default=str) + "\n")
    line = settings_line(settings_from)
    notes = [*settings_from.get("notes", ()), *([line] if line else [])]
    return dataclasses.replace(d, notes=(*d.notes, *notes)) if notes else d


class ProgressLines:
    """A progress line on stderr every EVERY_S seconds (``FDSCOPE_PROGRESS_EVERY``) when
    it is not a terminal (CI, ``tee``): the spinner shows nothing there."""

    EVERY_S = 3.0

    def __init__(self, console: Any, t0: float) -> None:
        self.console = console
        self.t0 = t0
        self.on = not console.is_terminal and not console.quiet
        self.every = float(os.environ.get("FDSCOPE_PROGRESS_EVERY") or self.EVERY_S)
        self.last = time.monotonic()

    def update(self, text: str) -> None:
        now = time.monotonic()
        if self.on and now - self.last >= self.every:
            self.last = now
            print(f"fdscope doctor: {text} ({now - self.t0:.0f} s)", file=sys.stderr, flush=True)


def _limit_row(rows: Any, d: Any) -> None:
    """The report's line on the limit: the process/thread limit, or EMFILE reproduced, near,
    or projected (none when nothing approaches a limit)."""
    if d.invocations_to_limit is not None and (d.threads_only or d.processes_only):
        rows.add_row(
            "process/thread limit", f"about {d.invocations_to_limit} invocations left (projected)"
        )
    elif d.emfile:
        rows.add_row(
            "EMFILE", f"[bold red]reproduced[/]: an open failed at invocation {d.emfile_at:,}"
        )
    elif d.near_limit is not None:
        near = d.near_limit
        said = (
            f"[yellow]warning[/]: near the limit, no open failed; reached {near['count']:,} "
            f"of {near['limit']:,} at invocation {near['invocation']:,}"
        )
        if near.get("projected_at") is not None:
            said += f"; projected at invocation ~{near['projected_at']:,}"
        rows.add_row("EMFILE", said)
    elif d.invocations_to_limit is not None:
        left = (
            "not reproduced: the count reached the limit, no open failed"
            if d.invocations_to_limit == 0
            else f"about {d.invocations_to_limit} invocations left (projected)"
        )
        rows.add_row("EMFILE", left)


def _culprit_lines(console: Any, culprits: Any) -> None:
    """Where the descriptors come from: the first five culprits, the user's line first."""
    if not culprits:
        return
    console.print("[bold]where they come from[/] (the user's line first):")
    for c in culprits[:5]:
        mark = " [dim](approximate)[/]" if c.approximate else ""
        via = f" via {c.call}" if c.call else ""
        ep = f" -> {c.endpoint}" if c.endpoint else ""
        console.print(
            f"  {c.count:>5} {c.kind}{ep}  created at [bold]{c.site}[/] in {c.function}{via}{mark}"
        )
        if len(c.chain) > 1:
            console.print("        " + " -> ".join(c.chain))


def _memory_row(rows: Any, d: Any) -> None:
    """The report's memory line: peak of the memory size, growth, out of memory."""
    m = getattr(d, "memory", None) or {}
    if m.get("memory_mb") is None:
        return
    peak = "unknown" if m.get("peak_mb") is None else f"{m['peak_mb']:.0f} MB"
    rate = (m.get("rate_bytes_per_invocation") or 0) / 2**20
    text = f"peak {peak} of {m['memory_mb']} MB; {rate:+.2f} MB per invocation ({m['shape']})"
    if m.get("out_of_memory_at") is not None:
        text += f"; [bold red]out of memory[/] at invocation {m['out_of_memory_at']:,}"
    elif m.get("leaking") and m.get("invocations_to_limit") is not None:
        text += f"; out of memory in about {m['invocations_to_limit']:,} invocations (projected)"
    if d.first_limit:
        text += f"; first limit: {d.first_limit}"
    rows.add_row("memory", text)
    timing = getattr(d, "timing", None) or {}
    if timing.get("timeout_wait_s"):
        rows.add_row(
            "time",
            f"{timing['work_s']:.1f} s of work, {timing['timeout_wait_s']:.1f} s waiting for "
            "the function's own timeout (not counted against --budget)",
        )


def render(console: Any, d: Any, handler: str, seconds: float) -> None:
    """The doctor's report for a person."""
    with extra("cli"):
        from rich.table import Table

    from fdscope.doctor.compare import held
    from fdscope.metrics.plot import terminal_chart

    style = VERDICT_STYLE.get(d.verdict, "bold")
    console.print(
        f"[{style}]verdict: {d.verdict}[/]  {handler}  "
        f"(exit {d.exit_code}, confidence {d.confidence:.2f}, "
        f"{d.invocations} invocations in {seconds:.1f} s)"
    )
    rows = Table(show_header=False, box=None, padding=(0, 1))
    peak = "unknown (no invocation was measured)" if d.peak is None else f"{d.peak} of {d.limit}"
    rows.add_row(
        "descriptors",
        f"peak {peak}; {d.rate_per_invocation:+.2f} per invocation ({d.shape})",
    )
    _limit_row(rows, d)
    _memory_row(rows, d)
    if d.kinds:
        rows.add_row("accumulating", ", ".join(f"{k} +{v}" for k, v in d.kinds.items()))
    rows.add_row(
        "failures",
        f"EMFILE {d.emfile}, timeouts {d.timeouts}, crashes {d.crashes}, "
        f"errors {d.errors}; cold starts {d.cold_starts}",
    )
    lat = "yes" if d.latency_climb else "no"
    if d.duration_p50_ms is not None:
        rows.add_row(
            "duration",
            f"p50 {d.duration_p50_ms:.1f} ms, p99 {d.duration_p99_ms:.1f} ms; latency climb: {lat}",
        )
    if d.new_connections_per_invocation is not None:
        rows.add_row("new connections", f"{d.new_connections_per_invocation:g} per invocation")
    rows.add_row("threads", f"{d.threads_per_invocation:+.2f} per invocation")
    if d.gc_check:
        g = d.gc_check
        rows.add_row(
            "gc check",
            f"with {g.get('collection', 'gc.collect()')} after each of "
            f"{g['invocations']} invocations:"
            f" {g['rate_per_invocation']:+.2f} per invocation ({g['shape']})",
        )
    console.print(rows)
    _culprit_lines(console, d.culprits)
    for note in d.notes:
        console.print(f"[dim]•[/] {note}")
    if d.static_findings:
        console.print("[bold]fdscope lint[/] on the handler's module:")
    for finding in d.static_findings[:5]:
        console.print(f"  {finding}", highlight=False)
    for finding in d.per_invocation_init[:5]:
        console.print(f"  [dim]{finding}[/]")
    console.print(f"[bold]fix:[/] {d.advice}")
    from fdscope.doctor.evidence import read_jsonl

    # a run killed mid-write leaves a torn last line: skipped, not a traceback
    rows_data = read_jsonl(Path(d.out_dir) / "samples.jsonl")
    if rows_data:
        chart = terminal_chart([held(r) for r in rows_data], width=60, height=6, limit=d.limit)
        console.print(chart, markup=False, highlight=False)
    console.print(f"[dim]run directory: {d.out_dir} (summary.json, fd_use.png, report.html)[/]")


for _param in _SHARED:
    doctor.params.append(_param)


@click.command("compare")
@click.argument("before", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("after", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained page to share (both runs on one chart).",
)
@force_option
def compare(
    before: Path, after: Path, as_json: bool, html_out: Path | None = None, force: bool = False
) -> None:
    """Compare two runs (before and after a fix): did the fix work?

    Exit 0 when the fix worked or things improved, 1 when unchanged or worse. With
    --html OUT, OUT is written too (a file that exists only with --force).
    """
    from fdscope.doctor.compare import ROWS
    from fdscope.doctor.compare import compare as do_compare

    if html_out is not None:
        check_new_file(html_out, force, "a page")
    c = do_compare(before, after)
    if html_out is not None:
        from fdscope.doctor.report_html import render_compare
        from fdscope.local import write_atomic

        write_atomic(html_out, render_compare(before, after, c.to_json()))
        click.echo(f"wrote {html_out}", err=as_json)
    if as_json:
        click.echo(json.dumps(c.to_json(), indent=2))
    else:
        with extra("cli"):
            from rich.table import Table

        t = Table(title="before / after")
        t.add_column("")
        t.add_column("before", justify="right")
        t.add_column("after", justify="right")

        def fmt(v: Any) -> str:
            return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

        for label, attr in ROWS.items():
            t.add_row(label, fmt(getattr(c.before, attr)), fmt(getattr(c.after, attr)))
        console = stdout_console()
        console.print(t)
        style = "bold green" if c.outcome in ("fixed", "improved") else "bold red"
        console.print(f"[{style}]the fix: {c.outcome}[/]")
        for r in c.reasons:
            console.print(f"  • {r}")
    sys.exit(0 if c.outcome in ("fixed", "improved") else 1)
