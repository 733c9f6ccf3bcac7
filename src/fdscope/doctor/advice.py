"""The advice: the one sentence that says what to fix, from the verdict and the culprit.

Also the failure of a run in words (:func:`failure_text`) and ``fdscope lint``'s
findings on the handler's file, which the advice and the notes quote.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
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
        "the local Lambda holds no AWS credentials: point the function at a local AWS "
        "(--aws-endpoint local, moto with keep-alive) or pass them with --env",
    ),
    (
        "EndpointConnectionError",
        "",
        "the local Lambda connects to 127.0.0.1 only: use --aws-endpoint local (a local AWS) "
        "or a local service's URL, or --allow-network to reach AWS",
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


@dataclass(frozen=True)
class SiteContext:
    """What the source says around a culprit's line (advice that fits the code)."""

    text: str = ""  # the line itself, stripped
    with_header: bool = False  # the creating call is in a `with` statement's header
    in_with: bool = False  # the line is inside a with statement (header or body)
    per_run: bool = False  # a path or name made per invocation, or a context manager's body
    needs_config: bool = False  # the client needs a region or credentials when built (boto3)


_CONFIGURED = ("boto3.client(", "boto3.resource(", "boto3.Session(", "boto3.session.Session(")
_LAZY = (
    "build it lazily, so the module still imports where no region or credentials are set "
    "(boto3.client() at import raises NoRegionError in tests): `_client = None` and "
    "`def client(): global _client; if _client is None: _client = boto3.client(...); "
    "return _client`"
)


def site_context(culprit: Culprit, code_root: Path | None, built: str | None = None) -> SiteContext:
    """Read the culprit's line (and lint's line that builds the client) from the source."""
    file, _, line_s = culprit.site.rpartition(":")
    path = Path(file) if Path(file).is_absolute() or code_root is None else code_root / file
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        line = int(line_s)
        tree = ast.parse(source)
    except (OSError, ValueError, SyntaxError):
        return SiteContext()
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    built_text = ""
    if built:
        b = built.rpartition(":")[2]
        if b.isdigit() and 0 < int(b) <= len(lines):
            built_text = lines[int(b) - 1]
    with_header = in_with = in_cm = per_run = False
    func: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        span = (getattr(node, "lineno", 0), getattr(node, "end_lineno", 0) or 0)
        if not span[0] <= line <= span[1]:
            continue
        if isinstance(node, (ast.With, ast.AsyncWith)):
            in_with = True
            if any(
                it.context_expr.lineno <= line <= (it.context_expr.end_lineno or 0)
                for it in node.items
            ):
                with_header = True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
            func is None or node.lineno >= func.lineno
        ):
            func = node
    if func is not None:
        in_cm = func.name in ("__enter__", "__aenter__") or any(
            ast.unparse(d).endswith("contextmanager") for d in func.decorator_list
        )
        local = {a.arg for a in func.args.args + func.args.kwonlyargs}
        for node in ast.walk(func):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                local.add(node.id)
        per_run = any(
            _differs_per_run(call, local)
            for call in ast.walk(func)
            if isinstance(call, ast.Call) and call.lineno <= line <= (call.end_lineno or 0)
        )
    needs = any(c in text or c in built_text for c in _CONFIGURED)
    return SiteContext(text, with_header, in_with, per_run or in_cm, needs)


def _differs_per_run(call: ast.Call, local: set[str]) -> bool:
    """A file or logging handler whose path is made per invocation (an f-string, a local
    name, the event or context), not a constant or a module-level name."""
    name = ast.unparse(call.func)
    if not name.endswith(("FileHandler", "open", "Path", "mkdtemp", "connect")):
        return False
    args = list(call.args[:1]) + [k.value for k in call.keywords if k.arg in ("filename", "file")]
    for arg in args:
        for node in ast.walk(arg):
            if isinstance(node, ast.FormattedValue):
                return True
            if isinstance(node, ast.Name) and node.id in local:
                return True
    return False


def advice(
    verdict: str,
    culprit: Culprit | None,
    gc_cleans: bool,
    failure: str = "",
    static: Sequence[Any] = (),
    code_root: Path | None = None,
    *,
    language: str = "python",
    loop_alive: bool = False,
) -> str:
    """The fix, in one sentence: ``failure`` is :func:`failure_text`'s (a broken run, or
    one where most invocations failed), ``static`` ``fdscope lint``'s findings; the
    source under ``code_root`` is read for the shape of the culprit's line. A Node
    handler (``language="nodejs"``; ``loop_alive``: handles kept its event loop busy at
    a timeout) gets :mod:`fdscope.doctor.node_advice`'s words where they apply."""
    if language == "nodejs":
        from fdscope.doctor.node_advice import node_advice

        said = node_advice(verdict, culprit, gc_cleans, loop_alive=loop_alive, code_root=code_root)
        if said is not None:
            return said
    if verdict == "broken":
        if failure:
            return f"The handler fails every invocation: {failure}. Fix that first."
        return "The handler fails every invocation: fix the error in the log (events.jsonl) first."
    if verdict == "none":
        if failure:  # most invocations fail, for another reason than descriptors
            return f"No descriptor leak, but {failure}. Fix that first."
        return "Nothing to fix: the descriptor count does not grow."
    if culprit is None:
        # the doctor always tracks origins: the descriptors were made where it cannot see
        return (
            "The count grows but no creation site was recorded (descriptors made in C code "
            "or by a child process, or before tracking started): see the kinds that grow "
            "and origins.jsonl."
        )
    call = culprit.call or ""
    shown = _readable_call(call)
    where = f"{culprit.site}" + (f" ({shown})" if shown else "")
    built = _built_at(static, culprit)
    ctx = site_context(culprit, code_root, built)
    fix = (
        _held_advice(culprit, ctx)
        or _client_advice(call, where, built, ctx)
        or _verdict_advice(verdict, gc_cleans, where, call, ctx)
        or _call_advice(culprit, call, where, ctx)
        or _kind_advice(culprit, call, where, ctx)
    )
    kept = culprit.kept_in()
    if kept:
        return f"Opened at {where}, {kept}: {fix[0].lower()}{fix[1:]}"
    return fix


def _module_scope(ctx: SiteContext) -> str:
    """`create it once, at module scope`, with the lazy form when import needs configuration."""
    if ctx.needs_config:
        return f"create it once per execution environment and reuse it; {_LAZY}"
    return "create it once, at module scope, and reuse it"


def _held_advice(culprit: Culprit, ctx: SiteContext) -> str | None:
    """A module-level container or class attribute that collects one per invocation."""
    held = culprit.held_by or {}
    path = list(held.get("path") or ())
    if held.get("kind") not in ("module", "class") or len(path) < 3 or not path[1].startswith("["):
        return None
    if held.get("owner") == "library":  # a library's own list: the user adds nothing to it
        return None
    name = str(held.get("name") or "?")
    short = name.rpartition(".")[2] if held.get("kind") == "module" else name
    return (
        f"Stop adding one per invocation to `{short}`: close what it holds when the invocation "
        f"ends and drop it, or keep one shared instance ({_module_scope(ctx)})."
    )


def _client_advice(call: str, where: str, built: str | None, ctx: SiteContext) -> str | None:
    """Connections opened through a client that outlives the invocation."""
    requesting = "<locals>" in call or call.endswith(
        (".get", ".post", ".put", ".request", ".urlopen", ".send", "_api_call")
    )
    if built and requesting:
        return (
            f"The connections are opened at {where}, through a client built per invocation at "
            f"{built} (fdscope lint): {_module_scope(ctx).replace('it', 'that client', 1)} "
            "(or close it before the handler returns)."
        )
    if call.endswith(("gather", "create_task", "ensure_future", "TaskGroup.create_task")):
        return (
            f"The connections are opened by tasks started at {where}, through a client that "
            f"outlives the invocation: {_module_scope(ctx).replace('it', 'that client', 1)} "
            "(or close it before the handler returns)."
        )
    return None


def _verdict_advice(
    verdict: str, gc_cleans: bool, where: str, call: str, ctx: SiteContext
) -> str | None:
    """A bound, or reference cycles: what the verdict alone says."""
    if verdict == "bounded":
        return f"Bounded: the handles from {where} stop growing; make sure that bound is intended."
    if gc_cleans or verdict == "gc-bound":
        if ctx.with_header:
            return _with_does_not_close(where, call, ctx)
        how = (
            "contextlib.closing, or close() in a finally block"
            if ctx.in_with
            else "a with block, contextlib.closing, or asyncio.run for event loops"
        )
        return (
            f"Close what {where} creates before the handler returns ({how}) instead of "
            "leaving it to the garbage collector."
        )
    return None


def _with_does_not_close(where: str, call: str, ctx: SiteContext) -> str:
    """The leak is on a `with` line: that object's with block does not close it."""
    if "sqlite3" in call or "sqlite3" in ctx.text:
        return (
            f"The with block at {where} does not close the connection (sqlite3's with commits "
            "or rolls back, it never closes): wrap it in contextlib.closing - "
            "`with contextlib.closing(sqlite3.connect(...)) as conn:` - and commit inside."
        )
    return (
        f"The with block at {where} does not close what it opens: wrap it in "
        "contextlib.closing(...), or call close() in a finally block."
    )


def _call_advice(culprit: Culprit, call: str, where: str, ctx: SiteContext) -> str | None:
    """What the call made at the site says: a bare descriptor, a logging handler, a thread."""
    if any(call.startswith(b) for b in _BARE_CALLS):
        return f"Close the descriptor returned at {where} with os.close() in a finally block."
    if "FileHandler" in call or "addHandler" in call or "FileHandler" in ctx.text:
        if ctx.per_run:
            return (
                f"The logging handler created at {where} is per run (its file differs per "
                "invocation): remove it and close it when the run ends - "
                "logger.removeHandler(h); h.close() in a finally block."
            )
        return f"Add the logging handler at {where} once, at module scope, not per invocation."
    if culprit.kind.startswith("thread") or any(t in call for t in _THREAD_CALLS):
        return (
            f"Start the background worker at {where} once per execution environment (module "
            "scope), or stop it before the handler returns."
        )
    return None


def _kind_advice(culprit: Culprit, call: str, where: str, ctx: SiteContext) -> str:
    """What the kinds of the handles say: processes, files, event loops, else a client."""
    kinds = set(culprit.kind.split("+"))
    if "process" in kinds or "Popen" in call or "multiprocessing" in call:
        return (
            f"End the child processes started at {where} before the handler returns (a "
            "Popen: communicate() or wait(); a Pool: close() and join()"
            + ("" if ctx.in_with else ", or a with block")
            + "), or start them once per environment."
        )
    if kinds <= {"file", "dir", "memfd", "fifo", "chr", "blk"}:
        if ctx.with_header:
            return _with_does_not_close(where, call, ctx)
        how = "close() in a finally block" if ctx.in_with else "a with block"
        if ctx.per_run:
            return (
                f"The file opened at {where} is per run (its path differs per invocation): "
                f"close it, and remove it if it is temporary, when the run ends ({how})."
            )
        return (
            f"Close the file opened at {where} before the handler returns ({how}), "
            "or open it once at module scope."
        )
    if kinds <= {"eventpoll", "eventfd", "timerfd", "signalfd", "inotify", "pipe", "unix"} and (
        "loop" in call or "selector" in call.lower() or "Selector" in call
    ):
        return (
            f"Close the event loop or selector created at {where} before the handler returns "
            "(asyncio.run() closes its loop), or create it once at module scope."
        )
    if ctx.with_header:
        return _with_does_not_close(where, call, ctx)
    if ctx.needs_config:
        return (
            f"Create the client at {where} once per execution environment and reuse it across "
            f"invocations (or close it before the handler returns); {_LAZY}."
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
