"""``fdscope lint``: the static checker's command line (exit 0 clean, 1 findings, 2 usage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fdscope._extras import extra
from fdscope.cli._common import warn_deprecated
from fdscope.cli._output import check_new_file, force_option

with extra("cli"):
    import click


_FORMATS = ("text", "json", "sarif")


def _format_and_file(
    fmt: str | None, alias: str | None, output: Path | None, old_output: Path | None
) -> tuple[str, Path | None]:
    """--output is the format (as in the AWS CLI), --out the file; --output FILE and -o
    FILE, the old spellings, still write FILE with a deprecation warning."""
    if fmt is not None and fmt.lower() not in _FORMATS:
        if not any(c in fmt for c in "./\\"):
            raise click.BadParameter(
                f"{fmt!r} is not one of {', '.join(_FORMATS)} (a file: --out FILE)",
                param_hint="'--output'",
            )
        warn_deprecated("--output FILE", "--out FILE (--output is the format)")
        output, fmt = output or Path(fmt), None
    if old_output is not None:
        warn_deprecated("-o FILE", "--out FILE")
        output = output or old_output
    return (fmt or alias or "text").lower(), output


def _codes(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(c.strip().upper() for c in value.split(",") if c.strip())


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--handler",
    "handlers",
    multiple=True,
    metavar="MODULE.FUNCTION",
    help="A Lambda handler (repeatable), e.g. app.lambda_handler or src/api/app.handler.",
)
@click.option(
    "--output",
    "fmt",
    default=None,
    metavar="[text|json|sarif]",
    help="Output format [default: text] (--output FILE, the old meaning, still writes FILE: "
    "use --out).",
)
@click.option("--format", "format_alias", type=click.Choice(_FORMATS), hidden=True)
@click.option("--out", "output", type=click.Path(path_type=Path), help="Write the report here.")
@click.option("-o", "old_output", type=click.Path(path_type=Path), hidden=True)
@click.option("--select", help="Only these rule codes or prefixes (comma-separated), e.g. FDS1.")
@click.option("--ignore", help="Skip these rule codes or prefixes (comma-separated).")
@click.option("--hints/--no-hints", default=False, help="Print the fix hint under each finding.")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pyproject.toml to read [tool.fdscope.lint] from (default: the nearest one).",
)
@click.option("--list-rules", is_flag=True, help="Print the rule table and exit.")
@force_option
def lint(
    paths: tuple[Path, ...],
    handlers: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    select: str | None,
    ignore: str | None,
    hints: bool,
    config: Path | None,
    list_rules: bool,
    force: bool,
    old_output: Path | None = None,
    format_alias: str | None = None,
) -> None:
    """Check PATHS for descriptor leaks and per-invocation initialisation.

    Exit status: 0 clean, 1 findings, 2 usage or configuration error (an -o file
    that exists is one, unless --force).
    """
    from fdscope.lint import (
        RULES,
        LintConfigError,
        find_pyproject,
        load_config,
        to_json,
        to_sarif,
        to_text,
    )
    from fdscope.lint import lint as run_lint

    fmt, output = _format_and_file(fmt, format_alias, output, old_output)
    if list_rules:
        for code, rule in sorted(RULES.items()):
            click.echo(f"{code}  {rule.name:<30} {rule.doc}")
        return
    if not paths:
        raise click.UsageError("give at least one file or directory to check")
    if output is not None:
        check_new_file(output, force)
    cfg = load_config(config if config is not None else find_pyproject(paths[0]))
    ignored = _codes(ignore)
    cfg = cfg.with_overrides(
        enable=_codes(select), disable=cfg.disable + ignored if ignored else None
    )
    for group in (cfg.enable, cfg.disable):
        for code in group:
            if not any(c.startswith(code) for c in RULES):
                raise click.UsageError(f"unknown rule code {code!r}")
    result = run_lint(list(paths), config=cfg, handlers=handlers)
    if fmt == "json":
        text = json.dumps(to_json(result), indent=2)
    elif fmt == "sarif":
        from fdscope import __version__

        text = json.dumps(to_sarif(result, version=__version__), indent=2)
    else:
        text = to_text(result, hints=hints)
    if output is not None:
        try:
            from fdscope.local import write_atomic

            write_atomic(output, text + "\n")
        except OSError as exc:
            raise LintConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    elif text:
        click.echo(text)
    for note in result.notes:  # e.g. JavaScript files not checked without fdscope[lint-js]
        click.secho(note, err=True, fg="yellow")
    if fmt == "text" and output is None:
        n = len(result.findings)
        files = result.files
        summary = f"{n} finding{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}"
        click.secho(summary, err=True, fg="yellow" if n else "green")
    sys.exit(result.exit_code)
