"""The ``fdscope`` command: a thin click layer over the library.

Each command lives in its own module under ``fdscope.cli`` and is imported only
when it runs, so ``fdscope --help`` stays fast. Any :class:`FdscopeError` becomes
one red line and exit code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from fdscope import __version__
from fdscope._extras import extra

with extra("cli"):
    import click

# command name -> "module:attribute"; each module is owned by one capability.
COMMANDS: dict[str, str] = {
    "handles": "fdscope.cli.handles:handles",
    "watch": "fdscope.cli.handles:watch",
    "track": "fdscope.cli.origins:track",
    "invoke": "fdscope.cli.invoke:invoke",
    "doctor": "fdscope.cli.doctor:doctor",
    "compare": "fdscope.cli.doctor:compare",
    "layer": "fdscope.cli.layer:layer",
    "query": "fdscope.cli.insights:query",
    "logs": "fdscope.cli.logs:logs",
    "triage": "fdscope.cli.logs:triage",
    "metrics": "fdscope.cli.metrics:metrics",
    "alarm": "fdscope.cli.metrics:alarm",
    "plot": "fdscope.cli.metrics:plot",
    "lint": "fdscope.cli.lint:lint",
    "setup": "fdscope.cli.setup:setup",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built yet
                return None
            raise
        cmd = getattr(module, attr, None)
        return cmd if isinstance(cmd, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(version=__version__, prog_name="fdscope")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find and fix file-descriptor leaks (EMFILE) in Python on Lambda and in services."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; FdscopeError -> one red line, exit 2 (traceback with --debug)."""
    from fdscope.errors import FdscopeError

    args = sys.argv[1:] if argv is None else argv
    try:
        return cli.main(args=args, prog_name="fdscope", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FdscopeError as exc:
        if "--debug" in args:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
