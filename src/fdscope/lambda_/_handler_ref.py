"""Resolve a Lambda handler string (``path/to/module.function``) as the runtime does."""

from __future__ import annotations

import importlib
import os
import sys

from fdscope.errors import FdscopeError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class HandlerNotFound(FdscopeError):
    """FDSCOPE_HANDLER is empty, malformed, or names fdscope's own entry point."""


def load_handler(spec: str) -> Callable[..., Any]:
    """Import ``module.function`` (module may be a path with '/'); raise HandlerNotFound.

    Import errors of the user's module propagate unchanged, as with the runtime.
    """
    spec = spec.strip()
    modname, _, fname = spec.rpartition(".")
    if not modname or not fname:
        raise HandlerNotFound(
            f"FDSCOPE_HANDLER must be 'module.function', got {spec!r} "
            "(is AWS_LAMBDA_EXEC_WRAPPER set to fdscope's wrapper script?)"
        )
    modname = modname.replace("/", ".")
    if modname == "fdscope.lambda_.entry":
        raise HandlerNotFound(
            "FDSCOPE_HANDLER points at fdscope's own entry (wrapper applied twice)"
        )
    root = os.environ.get("LAMBDA_TASK_ROOT")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(modname)
    fn = getattr(module, fname, None)
    if not callable(fn):
        raise HandlerNotFound(f"handler {fname!r} missing or not callable in module {modname!r}")
    return fn
