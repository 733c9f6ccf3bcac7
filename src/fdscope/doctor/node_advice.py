"""The fix in Node.js terms: what :func:`fdscope.doctor.advice.advice` says for a Node handler.

The same verdicts as Python's, other words: a server, app or client is created
once, outside the handler (module scope), and each invocation reuses it; a
descriptor from ``fs.openSync`` is closed in ``finally``; a child process or an
interval started per invocation is ended or cleared. Two Lambda-specific facts:
``context.callbackWaitsForEmptyEventLoop = false`` lets a callback handler answer
with handles still open, which hides a leak and does not fix it; AWS SDK v2
clients reuse connections only with ``AWS_NODEJS_CONNECTION_REUSE_ENABLED=1``
(v3 keeps them alive by default).
"""

from __future__ import annotations

from pathlib import Path

from fdscope.doctor.culprits import Culprit

HIDES = (
    "`context.callbackWaitsForEmptyEventLoop = false` would only hide it (the handles stay "
    "open and pile up): it does not fix the leak"
)
SDK_V2 = (
    "an AWS SDK v2 client reuses its connections only with AWS_NODEJS_CONNECTION_REUSE_ENABLED=1 "
    "(v3 keeps them alive by default)"
)
_SERVER_CALLS = ("listen", "createServer", "serverless-express", "serverless-http")


def _source(culprit: Culprit, code_root: Path | None) -> str:
    file = culprit.site.rpartition(":")[0]
    path = Path(file) if Path(file).is_absolute() or code_root is None else code_root / file
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _hides_leak(source: str) -> bool:
    """The handler's file turns the callback's wait for an empty event loop off."""
    return "callbackWaitsForEmptyEventLoop" in source and "= false" in source.replace(
        " =false", " = false"
    )


def node_advice(
    verdict: str,
    culprit: Culprit | None,
    gc_cleans: bool,
    *,
    loop_alive: bool = False,
    code_root: Path | None = None,
) -> str | None:
    """The fix for a Node handler, or None where the language-neutral words apply
    (``none``, ``bounded``, a failure without a handle keeping the loop alive)."""
    if culprit is None:
        return None
    call = culprit.call or ""
    where = culprit.site + (f" ({call})" if call else "")
    source = _source(culprit, code_root)
    if verdict == "broken":
        if not loop_alive:
            return None
        return (
            f"Every invocation times out because the event loop never empties: the {culprit.kind} "
            f"created at {where} stays open, and a callback handler is answered only when the "
            "loop is empty. Close it before calling back (server.close(), socket.end()), or "
            f"create it once, outside the handler; {HIDES}."
        )
    if verdict not in ("leak", "gc-bound"):
        return None
    kinds = set(culprit.kind.split("+"))
    if gc_cleans or verdict == "gc-bound":
        fix = (
            f"Close what {where} creates before the handler returns instead of leaving it to "
            "the garbage collector (a gc() after each invocation removed the growth)."
        )
    elif any(c in call for c in _SERVER_CALLS) or any(c in source for c in ("createServer(",)):
        fix = (
            f"Create the server (and the app) once, outside the handler, and proxy each "
            f"invocation to it: the server made per invocation at {where} leaves its listening "
            "socket and its connections open."
        )
    elif "process" in kinds or "spawn" in call or "exec" in call or "fork" in call:
        fix = (
            f"End the child process started at {where} before the handler returns "
            "(child.stdin.end() and await its 'exit', or child.kill()), or start one worker "
            "once, outside the handler."
        )
    elif "setInterval" in call or "setInterval(" in source and "clearInterval" not in source:
        fix = (
            f"Clear the interval started per invocation (clearInterval) and close the "
            f"connection opened at {where} before the handler returns, or start both once, "
            "outside the handler."
        )
    elif kinds <= {"file", "dir", "fifo", "chr"}:
        fix = (
            f"Close the descriptor opened at {where} with fs.closeSync(fd) in a finally block "
            "(or use fs.appendFileSync / a FileHandle you close), or open it once, outside the "
            "handler."
        )
    else:
        fix = (
            f"Create the client or agent behind {where} once, outside the handler, and reuse "
            "it across invocations (or destroy it before the handler returns)"
            + ("; " + SDK_V2 if "aws-sdk" in source or "aws-sdk" in call else "")
            + "."
        )
    if _hides_leak(source):
        fix = fix[:-1] + f"; {HIDES}."
    return fix
