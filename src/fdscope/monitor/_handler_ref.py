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


def _fault(kind: str, message: str, trace: list[str] | None = None) -> Exception | None:
    """The runtime client's own init error, so the function's log reads as it would
    without fdscope (``Unable to import module 'app'``, not fdscope's entry module);
    None when the runtime is not awslambdaric."""
    try:
        from awslambdaric.lambda_runtime_exception import FaultException
    except Exception:
        return None
    return FaultException(getattr(FaultException, kind), message, trace)


def load_handler(spec: str) -> Callable[..., Any]:
    """Import ``module.function`` (module may be a path with '/'); raise HandlerNotFound.

    Under awslambdaric, an import error, a syntax error or a missing handler is raised
    as the runtime's own ``FaultException`` with the user's module name, exactly what
    the runtime reports without fdscope; elsewhere the error propagates unchanged.
    """
    spec = spec.strip()
    modname, _, fname = spec.rpartition(".")
    if not modname or not fname:
        raise HandlerNotFound(
            f"FDSCOPE_HANDLER must be 'module.function', got {spec!r} "
            "(is AWS_LAMBDA_EXEC_WRAPPER set to fdscope's wrapper script?)"
        )
    modname = modname.replace("/", ".")
    if modname == "fdscope.monitor.entry":
        raise HandlerNotFound(
            "FDSCOPE_HANDLER points at fdscope's own entry (wrapper applied twice)"
        )
    root = os.environ.get("LAMBDA_TASK_ROOT")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    shown = spec.rpartition(".")[0]  # as the runtime names it: the path form, '/' kept
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        fault = _fault("IMPORT_MODULE_ERROR", f"Unable to import module '{shown}': {exc}")
        if fault is None:
            raise
        raise fault from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        fault = _fault("USER_CODE_SYNTAX_ERROR", f"Syntax error in module '{shown}': {exc}", trace)
        if fault is None:
            raise
        raise fault from exc
    if not hasattr(module, fname):
        fault = _fault("HANDLER_NOT_FOUND", f"Handler '{fname}' missing on module '{shown}'")
        if fault is not None:
            raise fault
    fn = getattr(module, fname, None)
    if not callable(fn):
        raise HandlerNotFound(f"handler {fname!r} missing or not callable in module {modname!r}")
    return fn
