"""The ``fdscope`` console script: checks the ``cli`` extra, then hands over to click.

Standard library only, so that ``fdscope`` with only the core installed prints
``pip install 'fdscope[cli]'`` and exits 2 instead of a traceback.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's
if TYPE_CHECKING:
    from typing import Any


def main(argv: list[str] | None = None) -> Any:
    """Run ``fdscope``; without click or rich, one line naming the extra and exit 2."""
    from fdscope._extras import extra
    from fdscope.errors import MissingExtra

    try:
        from fdscope.cli import main as cli_main  # imports click, under extra("cli")

        with extra("cli"):
            import rich  # noqa: F401 - the commands' output; checked before any work starts
    except MissingExtra as exc:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    return cli_main(argv)
