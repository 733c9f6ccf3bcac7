"""``fdscope track -- python app.py args…``: run a program with creation-site tracking on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from fdscope._extras import extra
from fdscope.cli._output import check_new_file, force_option
from fdscope.errors import OriginsError

with extra("cli"):
    import click


def _child_env(
    sample: int, depth: int, signal: str, fmt: str, report_fd: int | None, node: bool = False
) -> dict[str, str]:
    from fdscope import origins

    env = dict(os.environ)
    package_root = str(Path(origins.__file__).resolve().parents[2])  # the dir holding fdscope/
    paths = [origins.boot_path(), package_root]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        FDSCOPE_TRACK="1",
        FDSCOPE_TRACK_SAMPLE=str(sample),
        FDSCOPE_TRACK_DEPTH=str(depth),
        FDSCOPE_SIGNAL=signal,
        FDSCOPE_REPORT_AT_EXIT=fmt,
        PYTHONPATH=os.pathsep.join(paths),
    )
    if node:  # a Node.js program: the preload, through NODE_OPTIONS (its children too)
        from fdscope.origins import node as node_origins

        env["NODE_OPTIONS"] = node_origins.node_options(env.get("NODE_OPTIONS"))
    if report_fd is None:
        env.pop("FDSCOPE_REPORT_FD", None)
    else:
        env["FDSCOPE_REPORT_FD"] = str(report_fd)
    return env


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--sample", default=1, show_default=True, help="Record the stack of one creation in N per site."
)
@click.option("--depth", default=8, show_default=True, help="User frames kept per creation.")
@click.option(
    "--signal",
    "signal_name",
    default="USR1",
    show_default=True,
    help="Signal that prints a report to stderr ('0': none).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the exit report as JSON (fdscope.origins/1) on stdout.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every report the program sends (JSON lines) to this file.",
)
@force_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def track(
    sample: int,
    depth: int,
    signal_name: str,
    as_json: bool,
    out: Path | None,
    force: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (a Python or Node.js program) with creation-site tracking; report at exit.

    \b
    fdscope track -- python app.py --port 8080
    fdscope track -- node server.js
    fdscope track --json -- python -m myservice > report.json
    kill -USR1 <pid>     # a report to the program's stderr at any time

    The text report goes to the program's stderr at exit; with --json or --out
    the reports come back as JSON lines instead. Exits with the program's code; a
    program killed by a signal exits 128 + the signal's number, as a shell says
    (SIGKILL: 137). An --out file that exists is replaced only with --force.
    """
    if sample < 1 or depth < 1:
        raise OriginsError("--sample and --depth must be at least 1")
    if out is not None:
        check_new_file(out, force)
    collect = as_json or out is not None
    r = w = None
    if collect:
        r, w = os.pipe()
    from fdscope.origins import node as node_origins

    env = _child_env(
        sample, depth, signal_name, "json" if collect else "1", w, node_origins.is_node(command[0])
    )
    lines: list[bytes] = []

    def _drain() -> None:
        assert r is not None
        with os.fdopen(r, "rb") as pipe:
            lines.extend(pipe.read().splitlines())

    reader = threading.Thread(target=_drain, daemon=True) if collect else None
    if reader is not None:
        reader.start()
    try:
        proc = subprocess.Popen(list(command), env=env, pass_fds=(w,) if w is not None else ())
    except OSError as exc:
        raise OriginsError(f"cannot run {command[0]!r}: {exc}")
    finally:
        if w is not None:
            os.close(w)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.wait()
        code = 130
    if reader is not None:
        reader.join(30)
    if out is not None:
        from fdscope.local import write_atomic

        write_atomic(out, b"".join(line + b"\n" for line in lines))
    if as_json:
        if lines:
            sys.stdout.write(lines[-1].decode() + "\n")
        else:
            click.secho(
                "fdscope: the program sent no report (did it run Python or Node.js?)",
                fg="yellow",
                err=True,
            )
    if code < 0:  # killed by a signal: the shell's convention, not 256 - signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        click.secho(f"fdscope: the program was killed by {name}", fg="yellow", err=True)
        code = 128 - code
    sys.exit(code)
