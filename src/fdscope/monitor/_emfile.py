"""Is this exception EMFILE? errno 24 anywhere in the chain, or a known disguise at the limit."""

from __future__ import annotations

import errno

_NO_FD = (errno.EMFILE, errno.ENFILE)
_EAI_NONAME = -2  # socket.gaierror when getaddrinfo cannot open its socket


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


def chain(exc: BaseException, limit: int = 64) -> list[BaseException]:
    """Every exception reachable from ``exc`` (breadth first, each once, at most ``limit``)."""
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


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except Exception:
        text = "?"
    return f"{type(e).__name__}: {text[:200]}"


def evidence(exc: BaseException | None, *, at_limit: bool) -> list[str]:
    """Why ``exc`` means EMFILE, one line per reason; [] when it does not.

    errno 24 (or 23, ENFILE) anywhere in the chain is EMFILE on its own. The
    disguises measured at real exhaustion — ``gaierror -2`` from getaddrinfo,
    sqlite3's ``unable to open database file``, select()'s ``filedescriptor out
    of range`` — count only when the descriptor count is at the limit.
    """
    if exc is None:
        return []
    direct: list[str] = []
    disguised: list[str] = []
    for e in chain(exc):
        name = type(e).__name__
        if isinstance(e, OSError) and e.errno in _NO_FD:
            direct.append(f"errno {e.errno} in the exception chain: {_describe(e)}")
            continue
        try:
            text = str(e)
        except Exception:
            text = ""
        if "Too many open files" in text:
            direct.append(f"'Too many open files' in the exception chain: {_describe(e)}")
        elif isinstance(e, OSError) and name == "gaierror" and e.errno == _EAI_NONAME:
            disguised.append(f"getaddrinfo failed (gaierror -2) at the limit: {_describe(e)}")
        elif name == "OperationalError" and "unable to open database file" in text:
            disguised.append(f"sqlite3 could not open its file at the limit: {_describe(e)}")
        elif isinstance(e, ValueError) and "filedescriptor out of range" in text:
            disguised.append(f"select() descriptor beyond 1023 at the limit: {_describe(e)}")
    return direct + (disguised if at_limit else [])
