"""``@monitor``: wrap a Lambda handler with the per-invocation monitor."""

from __future__ import annotations

import functools
import sys

from fdscope.monitor._config import Config

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _build(config: Config | None, stream: Any) -> Any:
    """A Monitor, or None when fdscope cannot start (said once on stderr) or is turned off."""
    try:
        from fdscope.monitor._monitor import Monitor

        cfg = config if config is not None else Config.from_env()
        if not cfg.enabled:
            return None
        return Monitor(cfg, stream=stream)
    except Exception as exc:  # fail open: the handler runs untouched
        try:
            sys.stderr.write(
                f"fdscope: monitor not started (the handler is unaffected): "
                f"{type(exc).__name__}: {exc}\n"
            )
        except Exception:
            pass
        return None


def monitor(
    handler: Callable[..., Any] | None = None,
    *,
    config: Config | None = None,
    stream: Any = None,
) -> Any:
    """Decorate ``handler(event, context)``: one EMF record per invocation, leak watch, EMFILE.

    Use as ``@monitor`` or ``@monitor(config=Config(...))``. Settings come from
    the environment (see ``fdscope.monitor.ENV_VARS``) unless ``config`` is
    given. Never changes the handler's result, exception or output; the
    wrapper's ``monitor`` attribute is the :class:`Monitor` (None when off).
    An ``async def`` handler stays a coroutine function, and its invocation is
    measured from the call to the end of the awaited coroutine.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        mon = _build(config, stream)
        if _is_coroutine_function(fn):
            return _wrap_async(fn, mon)
        if mon is None:

            @functools.wraps(fn)
            def plain(event: Any, context: Any) -> Any:
                return fn(event, context)

            plain.monitor = None  # type: ignore[attr-defined]
            return plain

        @functools.wraps(fn)
        def measured(event: Any, context: Any) -> Any:
            return mon.call(fn, event, context)

        measured.monitor = mon  # type: ignore[attr-defined]
        return measured

    if handler is not None:
        return wrap(handler)
    return wrap


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE (importing inspect costs milliseconds)


def _is_coroutine_function(fn: Any) -> bool:
    """``async def`` (or marked by ``inspect.markcoroutinefunction``), without inspect."""
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    if getattr(target, "_is_coroutine_marker", None) is not None:
        return True
    code = getattr(target, "__code__", None)
    return bool(getattr(code, "co_flags", 0) & _CO_COROUTINE)


def _wrap_async(fn: Callable[..., Any], mon: Any) -> Callable[..., Any]:
    """The wrapper of an ``async def`` handler: itself ``async def`` (so
    ``inspect.iscoroutinefunction`` stays true), measuring until the coroutine ends."""
    if mon is None:

        @functools.wraps(fn)
        async def plain(event: Any, context: Any) -> Any:
            return await fn(event, context)

        plain.monitor = None  # type: ignore[attr-defined]
        return plain

    @functools.wraps(fn)
    async def measured(event: Any, context: Any) -> Any:
        st = mon._guard("start", mon._start, context)
        try:
            result = await fn(event, context)
        except BaseException as exc:
            if st is not None:
                mon._guard("finish", mon._finish, st, exc)
            raise
        if st is not None:
            mon._guard("finish", mon._finish, st, None)
        return result

    measured.monitor = mon  # type: ignore[attr-defined]
    return measured
