"""The exception-chain walker: every exception an exception leads to."""

from __future__ import annotations


def _linked(exc: BaseException) -> list[object]:
    """Exceptions an exception points at: cause, context, and what wrappers keep."""
    out: list[object] = [exc.__cause__, exc.__context__]
    kwargs = getattr(exc, "kwargs", None)  # botocore: EndpointConnectionError(error=OSError(24))
    if isinstance(kwargs, dict):
        out.append(kwargs.get("error"))
    for attr in ("reason", "original_error", "error", "__notes_exc__"):
        out.append(getattr(exc, attr, None))  # urllib3 MaxRetryError.reason, ...
    args = getattr(exc, "args", ())
    if isinstance(args, tuple):
        out.extend(args)
    subs = getattr(exc, "exceptions", None)  # ExceptionGroup (3.11+) and alike
    if isinstance(subs, (list, tuple)):
        out.extend(subs)
    return out


def chain(exc: BaseException | None, limit: int = 64) -> list[BaseException]:
    """Every exception reachable from ``exc`` (breadth first, each once, at most ``limit``).

    Follows ``__cause__``, ``__context__``, botocore's ``kwargs["error"]``, the
    ``reason`` / ``original_error`` / ``error`` attributes wrappers keep (urllib3,
    aiohttp, ...), exceptions held in ``args`` and an exception group's
    ``exceptions``. An exception whose attributes raise on access (a hostile
    ``__getattr__``) is kept, and not followed further. ``[]`` for ``None``.
    """
    seen: set[int] = set()
    out: list[BaseException] = []
    queue: list[object] = [exc]
    while queue and len(out) < limit:
        e = queue.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        try:
            queue.extend(_linked(e))
        except Exception:  # a hostile __getattr__: stop following this one
            continue
    return out
