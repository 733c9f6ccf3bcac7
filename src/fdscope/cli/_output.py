"""The one overwrite rule of every command that writes a file or a run directory.

Nothing that is already there is replaced silently: a file that exists, or a
directory that holds another run, is refused with one clear line (exit 2)
unless the command is given ``--force`` — the one overwrite option, the same
for ``invoke``, ``doctor``, ``plot``, ``logs pull``, ``lint -o``, ``track
--out`` and ``layer build``. Files are written whole or not at all (a
temporary file, then a rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.errors import FdscopeError

with extra("cli"):
    import click

FORCE_HELP = "Replace what is already there (a run directory is cleared first)."


class OutputExists(FdscopeError):
    """A command would replace a file that exists (without ``--force``)."""


def force_option(f: Any) -> Any:
    """The ``--force`` flag, as every writing command has it."""
    return click.option("--force", is_flag=True, help=FORCE_HELP)(f)


def check_new_file(path: Path, force: bool, what: str = "") -> None:
    """Refuse to replace ``path`` unless ``force``; a directory is never replaced."""
    path = Path(path)
    if path.is_dir():
        raise OutputExists(f"{path} is a directory: name a file to write")
    if not force and (path.exists() or path.is_symlink()):
        label = f" ({what})" if what else ""
        raise OutputExists(
            f"{path} exists{label}: choose another name, or add --force to replace it"
        )


def refuse_existing(param: str) -> Any:
    """Decorate a command whose ``param`` names a file it writes: add ``--force`` and
    refuse an existing file before the command runs (the command never sees ``force``)."""
    import functools

    def deco(f: Any) -> Any:
        @functools.wraps(f)
        def checked(*args: Any, force: bool = False, **kwargs: Any) -> Any:
            if kwargs.get(param) is not None:
                check_new_file(Path(kwargs[param]), force)
            return f(*args, **kwargs)

        return force_option(checked)

    return deco
