"""Is this exception EMFILE? The exhaustion table (:mod:`fdscope.exhaustion`) over the chain."""

from __future__ import annotations

from fdscope.exhaustion import counts, in_chain


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except Exception:
        text = "?"
    return f"{type(e).__name__}: {text[:200]}"


def evidence(exc: BaseException | None, *, at_limit: bool) -> list[str]:
    """Why ``exc`` means EMFILE, one line per reason; [] when it does not.

    The handler raised ``exc``, so every row that counts in a failure counts:
    errno 24 (or 23, ENFILE) anywhere in the chain, an exception's
    ``Too many open files``. The disguises measured at real exhaustion —
    ``gaierror -2`` from getaddrinfo, sqlite3's ``unable to open database file``,
    select()'s ``filedescriptor out of range`` — count only when the descriptor
    count is at the limit (their rows' condition).
    """
    if exc is None:
        return []
    direct: list[str] = []
    disguised: list[str] = []
    for r, e in in_chain(exc):
        if counts(r, sure=True, failed=True, at_limit=False):
            direct.append(f"{r.says}: {_describe(e)}")
        elif at_limit and counts(r, sure=True, failed=True, at_limit=True):
            disguised.append(f"{r.says}: {_describe(e)}")
    return direct + disguised
