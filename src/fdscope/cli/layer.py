"""``fdscope layer build``: a Lambda layer with the runtime monitor and its exec wrapper."""

from __future__ import annotations

from pathlib import Path

from fdscope._extras import extra
from fdscope.cli._output import refuse_existing

with extra("cli"):
    import click


@click.group()
def layer() -> None:
    """Lambda layer with the in-function monitor (no code change needed)."""


@layer.command()
@refuse_existing("out")  # --force: the one overwrite option
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("fdscope-layer.zip"),
    show_default=True,
    help="Where to write the layer zip.",
)
@click.option(
    "--compile/--no-compile",
    "compile_",
    default=True,
    show_default=True,
    help="Include byte code for this Python (build with the function's version).",
)
def build(out: Path, compile_: bool) -> None:
    """Build the layer: python/fdscope (runtime packages) and /opt/fdscope-wrapper.

    Attach it and set AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper on the function.
    /opt is read-only on Lambda: the byte code spares compiling at every cold start.
    """
    from fdscope.monitor import build_layer

    names = build_layer(out, compile=compile_)
    size = out.stat().st_size
    click.echo(f"wrote {out} ({len(names)} files, {size:,} bytes)")
    click.echo("attach it, then set AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper")
