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
    "--runtime",
    "runtimes",
    multiple=True,
    metavar="RUNTIME",
    help="A Lambda runtime the zip serves (repeatable): python3.X (byte code compiled by "
    "that version's interpreter found here) or nodejs18.x/20.x/22.x/24.x (the Node part, "
    "plain JavaScript). Default: every Lambda Python (3.10-3.13), byte code for those "
    "found here (the others get sources only), and the Node part.",
)
@click.option(
    "--allow-source-only",
    is_flag=True,
    help="Ship a --runtime with no interpreter here as source only (its cold starts "
    "compile the monitor: the build says how many ms) instead of failing.",
)
@click.option(
    "--compile/--no-compile",
    "compile_",
    default=True,
    show_default=True,
    help="Include byte code (--no-compile: sources only, for every version).",
)
def build(out: Path, runtimes: tuple[str, ...], allow_source_only: bool, compile_: bool) -> None:
    """Build the layer: python/fdscope (runtime packages), nodejs/node_modules/fdscope-monitor
    (the Node.js monitor) and /opt/fdscope-wrapper.

    Attach it and set AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper on the function.
    /opt is read-only on Lambda: the byte code of each version (side by side in
    __pycache__) spares compiling the monitor at every cold start.
    """
    from fdscope.errors import FdscopeError
    from fdscope.monitor import build_layer

    try:
        built = build_layer(
            out,
            compile=compile_,
            runtimes=list(runtimes) if runtimes else None,
            allow_source_only=allow_source_only,
        )
    except FdscopeError as exc:
        raise click.UsageError(str(exc)) from exc
    size = out.stat().st_size
    click.echo(f"wrote {out} ({len(built.names)} files, {size:,} bytes)")
    click.echo(f"serves: {', '.join(built.runtimes)}")
    if built.compiled:
        versions = ", ".join(f"python{v}" for v in built.compiled)
        click.echo(f"byte code for: {versions}")
    for v, why in built.source_only.items():
        cost = f"~{built.compile_ms:.0f} ms" if built.compile_ms is not None else "some ms"
        click.echo(
            f"python{v}: source only ({why}): each cold start compiles the monitor, "
            f"{cost} more (measured here compiling its modules)"
        )
    click.echo("attach it, then set AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper")
