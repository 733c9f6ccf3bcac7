"""The advice: the one sentence that says what to fix, from the verdict and the culprit.

Also the failure of a run in words (:func:`failure_text`) and ``fdscope lint``'s
findings on the handler's file, which the advice and the notes quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fdscope.doctor.culprits import Culprit
from fdscope.doctor.decision import FAILED
from fdscope.local import Sample

_BARE_CALLS = ("os.pipe", "os.pipe2", "os.open", "os.dup", "tempfile.mkstemp", "os.eventfd")
_THREAD_CALLS = ("threading.Thread", "ThreadPoolExecutor", "Observer", "Timer", "submit")


_FAILURE_HINTS = (
    # (error type, text in the message, what to tell the user)
    (
        "Runtime.MarshalError",
        "coroutine",
        "the handler is `async def`, and Lambda's Python runtime does not await it: make it a "
        "plain def that runs the coroutine with asyncio.run()",
    ),
    (
        "Runtime.MarshalError",
        "",
        "the handler returns a value JSON cannot encode: return dicts, lists, strings and numbers",
    ),
    ("Runtime.HandlerNotFound", "", "check the handler name (module.function)"),
    ("Runtime.ImportModuleError", "", "the module or one of its imports cannot be imported"),
    ("Runtime.UserCodeSyntaxError", "", "the module does not parse"),
    ("Sandbox.Timedout", "", "every invocation runs into the function's timeout (--timeout)"),
    (
        "NoCredentialsError",
        "",
        "the local Lambda holds no AWS credentials: point the function at a local service "
        "(--aws-endpoint http://127.0.0.1:PORT with moto) or pass them with --env",
    ),
    (
        "EndpointConnectionError",
        "",
        "the local Lambda connects to 127.0.0.1 only: use --aws-endpoint with a local service "
        "(moto), or --allow-network to reach AWS",
    ),
)


def failure_text(samples: Sequence[Sample]) -> str:
    """The most common failure of a run, in words: "ErrorType: message (n of m); hint"."""
    failed = [s for s in samples if s.status in FAILED]
    if not failed:
        return ""
    counts: dict[tuple[str, str], int] = {}
    for s in failed:
        message = (s.error_message or "").strip()
        if s.request_id:  # "RequestId: <id> Error: ..." differs per invocation
            message = message.replace(f"RequestId: {s.request_id} ", "")
        key = (s.error_type or s.status, message)
        counts[key] = counts.get(key, 0) + 1
    (etype, message), n = max(counts.items(), key=lambda kv: kv[1])
    if len(message) > 300:
        message = message[:297] + "..."
    text = f"{etype}: {message}" if message else etype
    text = f"{text} ({n} of {len(samples)} invocations)"
    for hint_type, needle, hint in _FAILURE_HINTS:
        if etype == hint_type and needle in message:
            return f"{text}; {hint}"
    if etype == "KeyError":
        hint = _event_hint(message)
        if hint:
            return f"{text}; {hint}"
    return text


def _event_hint(message: str) -> str:
    """For ``KeyError: 'Records'``: the bundled events that carry that key."""
    from fdscope.local import EVENT_TYPES, sample_event

    key = message.strip().strip("'\"")
    if not key or len(key) > 100:
        return ""

    def has(doc: Any) -> bool:
        if isinstance(doc, dict):
            return key in doc or any(has(v) for v in doc.values())
        if isinstance(doc, list):
            return any(has(v) for v in doc)
        return False

    types = [t for t in EVENT_TYPES if has(sample_event(t))]
    if not types:
        return ""
    return (
        f"the handler reads the event's {key!r}: send an event that has it "
        f"(--event-type {' or '.join(types[:4])}, or --event FILE)"
    )


def _readable_call(call: str) -> str:
    """``botocore.client.ClientCreator._create_api_method.<locals>._api_call`` ->
    ``botocore.client (a client method)``: internals say nothing to the user."""
    if "<locals>" not in call:
        return call
    head = call.split("<locals>")[0].rstrip(".").split(".")
    return ".".join(head[:2]) + " (a client method)"


def _built_at(findings: Sequence[Any], culprit: Culprit) -> str | None:
    """The line ``fdscope lint`` names for building a client kept or made per invocation
    (FDS101, FDS201-203) in the culprit's file, when it is not the culprit's own line."""
    file, _, line = culprit.site.rpartition(":")
    for f in findings:
        if (
            f.code in ("FDS101", "FDS201", "FDS202", "FDS203")
            and Path(f.path).name == Path(file).name
            and str(f.line) != line
        ):
            return f"{Path(file).name}:{f.line}"
    return None


def advice(
    verdict: str,
    culprit: Culprit | None,
    gc_cleans: bool,
    failure: str = "",
    static: Sequence[Any] = (),
) -> str:
    """The fix, in one sentence: ``failure`` is :func:`failure_text`'s (a broken run, or
    one where most invocations failed), ``static`` ``fdscope lint``'s findings."""
    if verdict == "broken":
        if failure:
            return f"The handler fails every invocation: {failure}. Fix that first."
        return "The handler fails every invocation: fix the error in the log (events.jsonl) first."
    if verdict == "none":
        if failure:  # most invocations fail, for another reason than descriptors
            return f"No descriptor leak, but {failure}. Fix that first."
        return "Nothing to fix: the descriptor count does not grow."
    if culprit is None:
        return "The count grows but no creation site was recorded: run with --track-origins."
    call = culprit.call or ""
    shown = _readable_call(call)
    where = f"{culprit.site}" + (f" ({shown})" if shown else "")
    return (
        _client_advice(call, where, _built_at(static, culprit))
        or _verdict_advice(verdict, gc_cleans, where)
        or _call_advice(culprit, call, where)
        or _kind_advice(culprit, call, where)
    )


def _client_advice(call: str, where: str, built: str | None) -> str | None:
    """Connections opened through a client that outlives the invocation."""
    requesting = "<locals>" in call or call.endswith(
        (".get", ".post", ".put", ".request", ".urlopen", ".send", "_api_call")
    )
    if built and requesting:
        return (
            f"The connections are opened at {where}, through a client built per invocation at "
            f"{built} (fdscope lint): create that client once, at module scope, and reuse it "
            "(or close it before the handler returns)."
        )
    if call.endswith(("gather", "create_task", "ensure_future", "TaskGroup.create_task")):
        return (
            f"The connections are opened by tasks started at {where}, through a client that "
            "outlives the invocation: create that client once, at module scope, and reuse it "
            "(or close it before the handler returns)."
        )
    return None


def _verdict_advice(verdict: str, gc_cleans: bool, where: str) -> str | None:
    """A bound, or reference cycles: what the verdict alone says."""
    if verdict == "bounded":
        return f"Bounded: the handles from {where} stop growing; make sure that bound is intended."
    if gc_cleans or verdict == "gc-bound":
        return (
            f"Close what {where} creates before the handler returns (a with block, "
            "contextlib.closing, or asyncio.run for event loops) instead of leaving it to the "
            "garbage collector."
        )
    return None


def _call_advice(culprit: Culprit, call: str, where: str) -> str | None:
    """What the call made at the site says: a bare descriptor, a logging handler, a thread."""
    if any(call.startswith(b) for b in _BARE_CALLS):
        return f"Close the descriptor returned at {where} with os.close() in a finally block."
    if "FileHandler" in call or "addHandler" in call:
        return f"Add the logging handler at {where} once, at module scope, not per invocation."
    if culprit.kind.startswith("thread") or any(t in call for t in _THREAD_CALLS):
        return (
            f"Start the background worker at {where} once per execution environment (module "
            "scope), or stop it before the handler returns."
        )
    return None


def _kind_advice(culprit: Culprit, call: str, where: str) -> str:
    """What the kinds of the handles say: processes, files, event loops, else a client."""
    kinds = set(culprit.kind.split("+"))
    if "process" in kinds or "Popen" in call or "multiprocessing" in call:
        return (
            f"End the child processes started at {where} before the handler returns (a "
            "Popen: communicate() or wait(); a Pool: close() and join(), or a with block), or "
            "start them once per environment."
        )
    if kinds <= {"file", "dir", "memfd", "fifo", "chr", "blk"}:
        return (
            f"Close the file opened at {where} before the handler returns (a with block), "
            "or open it once at module scope."
        )
    if kinds <= {"eventpoll", "eventfd", "timerfd", "signalfd", "inotify", "pipe", "unix"} and (
        "loop" in call or "selector" in call.lower() or "Selector" in call
    ):
        return (
            f"Close the event loop or selector created at {where} before the handler returns "
            "(asyncio.run() closes its loop), or create it once at module scope."
        )
    return (
        f"Create the client or connection at {where} once, at module scope, and reuse it "
        "across invocations (or close it before the handler returns)."
    )


def lint_findings(handler_file: Path | None, family: str | None = None) -> tuple[Any, ...]:
    """``fdscope lint``'s findings (``Finding``) for the handler's file (one ``family``, or
    every one)."""
    if handler_file is None or not handler_file.exists():
        return ()
    try:
        from fdscope.lint import RULES, lint

        result = lint([handler_file])
    except Exception:  # the static check is a hint; it never stops the verdict
        return ()
    return tuple(
        f
        for f in result.findings
        if family is None or getattr(RULES.get(f.code), "family", "") == family
    )
