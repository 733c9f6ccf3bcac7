"""Triage after an EMFILE night: the canned Logs Insights queries and what they say.

``triage(sources)`` runs the queries on local logs (:func:`fdscope.insights.execute`),
``triage_cloudwatch(log_groups, start=, end=)`` runs the very same queries on
CloudWatch Logs Insights (:func:`fdscope.insights.cloudwatch.execute`). Both
return a :class:`Triage`: EMFILE in all its disguises, timeouts, crashes, cold
starts, and per log stream (one execution environment) the invocations from
each cold start to the first failure and the ``fd_use`` trend when fdscope's or
Lambda Insights' EMF records are present, worst streams first.

The queries (:data:`QUERIES`) are plain Logs Insights text: ``timeline`` finds
the platform lines and every failure, ``fd_use`` the EMF records; the rest is
arithmetic over their rows. Both raise :class:`~fdscope.errors.QueryError` when
a query cannot run and :class:`~fdscope.errors.LogReadError` for unreadable sources.

What counts as EMFILE is the exhaustion table's (:mod:`fdscope.exhaustion`), and the
timeline's regex is generated from it. Triage has no process count for the moment of
a line (``fd_use`` comes from EMF records only sometimes), so a row that needs one
follows its ``blind`` rule: select()'s ``filedescriptor out of range`` and botocore's
endpoint error count in an error line or a failed invocation, sqlite3's ``unable to
open database file`` only in a failed invocation, and ``gaierror -2`` (``Name or
service not known``) not at all: triage neither queries nor counts it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fdscope.exhaustion import ALWAYS, LABELS, Row, counts, log_regex, match_line, triage_rows
from fdscope.logs import parse_timestamp

__all__ = [
    "DISGUISES",
    "QUERIES",
    "Failure",
    "Life",
    "StreamTriage",
    "Triage",
    "classify",
    "triage",
    "triage_cloudwatch",
]

# label -> (regex in the Logs Insights dialect, what it is), generated from the exhaustion
# table (fdscope.exhaustion): the rows triage can count without a process count. A message
# may wear several. gaierror -2 ("Name or service not known") needs the count triage does
# not have (blind NEVER), so it is neither queried nor counted here.
_ROWS = triage_rows()
DISGUISES: dict[str, tuple[str, str]] = {
    label: (log_regex(tuple(r for r in _ROWS if r.label == label)), about)
    for label, about in LABELS.items()
    if any(r.label == label for r in _ROWS)
}
# Whether a row counts is the table's ``counts``: triage has no process count (fd_use comes
# from EMF records only sometimes, and never for the moment of a line), so it passes
# at_limit=None and an at-limit row follows its ``blind`` rule. A line is a failure record
# ("sure") when it is an error or exception line or carries an ALWAYS row (an OSError's
# own text); elsewhere (an INFO line "retry policy: on EMFILE back off") a row counts only
# in an invocation that failed. sqlite's message always needs a failed invocation, since it
# has other causes. The doctor decides its own ``emfile`` from the same table.
_ERROR_LINE = re.compile(
    r"\[(?:ERROR|CRITICAL|FATAL)\]|\t(?:ERROR|CRITICAL|FATAL)\t|"
    r"\"(?:level|levelname|severity|log_level)\": ?\"(?:ERROR|CRITICAL|FATAL|error|critical|fatal)\"|"
    r"Traceback \(most recent call last\)|(?:Error|Exception): |\"errorType\"|Uncaught"
)
# the JSON platform records (runtimeDone, report): status success|error|failure|timeout;
# "error" is a function error, "failure" the runtime's
_PLATFORM_STATUS = r'"type": ?"platform\.(runtimeDone|report)".*"status": ?'
_TIMEOUT_RX = rf'Task timed out after|Status: timeout|{_PLATFORM_STATUS}"timeout"'
_CRASH_RX = rf'Runtime exited with error|Runtime\.ExitError|{_PLATFORM_STATUS}"failure"'
# what fails an invocation besides a timeout or crash: an error status, an unhandled error
_FAILED_RX = (
    r"^REPORT RequestId: .*Status: (?:error|timeout)"
    rf'|{_PLATFORM_STATUS}"(?:error|failure)"|^\[ERROR\] [\w.]+: |"errorType": ?"|\tInvoke Error '
)
_FAILED = re.compile(_FAILED_RX)
_PLATFORM_RX = (
    r'^(START|REPORT) RequestId: |^INIT_START |"type": ?"platform\.(initStart|start|report)"'
)

_EMFILE_RX = log_regex(_ROWS)
_LIMIT_CW = 10000  # the most rows CloudWatch Logs Insights returns

QUERIES: dict[str, str] = {
    "timeline": (
        "fields @timestamp, @logStream, @requestId, @message\n"
        f"| filter @message like /{_PLATFORM_RX}|{_EMFILE_RX}|{_TIMEOUT_RX}|{_CRASH_RX}/\n"
        "| sort @timestamp asc\n"
        f"| limit {_LIMIT_CW}"
    ),
    "fd_use": (
        "filter ispresent(fd_use)\n"
        "| fields @timestamp, @logStream, fd_use, fd_max, request_id\n"
        "| sort @timestamp asc\n"
        f"| limit {_LIMIT_CW}"
    ),
}
_TIMEOUT = re.compile(_TIMEOUT_RX)
_CRASH = re.compile(_CRASH_RX)
_START = re.compile(r"^START RequestId: (\S+)")
_REPORT = re.compile(r"^REPORT RequestId: (\S+)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def classify(message: str) -> list[str]:
    """The EMFILE disguises ``message`` wears (names of :data:`DISGUISES`), maybe none.

    ``Too many open files in system`` is ENFILE (``enfile``), not ``too-many-open-files``.
    """
    return _labels(r for r in match_line(message) if r.label in DISGUISES)


def _labels(rows: Iterable[Row]) -> list[str]:
    """The rows' labels, each once, in :data:`DISGUISES` order."""
    got = {r.label for r in rows}
    return [name for name in DISGUISES if name in got]


# the in-function monitor's own warnings: near the limit, a leak trend. Never a failure.
_MONITOR_WARNINGS = ("fd_near_limit", "fd_leak_warning")
_COUNT_ONLY = "descriptor count at the limit"  # fdscope <= 0.1's only evidence: a count


def _near_limit_record(message: str) -> bool:
    """The monitor's record of a count near the limit, with no open that failed.

    A warning (``fd_near_limit``, ``fd_leak_warning``), or the ``emfile`` ERROR line that
    earlier monitors wrote with no evidence but the count within the margin
    (``"evidence":["descriptor count at the limit: 1008 of 1024"]``): a near-limit
    record, not a failure (issue 14).
    """
    at = message.find('{"level":')
    if at < 0 or '"logger":"fdscope"' not in message:
        return False
    try:
        doc, _ = json.JSONDecoder().raw_decode(message, at)
    except ValueError:
        return False
    if not isinstance(doc, dict) or doc.get("logger") != "fdscope":
        return False
    event = doc.get("event")
    if event in _MONITOR_WARNINGS:
        return True
    evidence = doc.get("evidence")
    return (
        event == "emfile"
        and isinstance(evidence, list)
        and bool(evidence)
        and all(isinstance(e, str) and e.startswith(_COUNT_ONLY) for e in evidence)
    )


def _weigh(message: str) -> tuple[list[str], list[str]]:
    """(labels that count from this line alone, labels that count if its invocation failed)."""
    rows = [r for r in match_line(message) if r.label in DISGUISES]
    if not rows or _near_limit_record(message):
        return [], []
    sure = bool(_ERROR_LINE.search(message)) or any(r.condition == ALWAYS for r in rows)
    now = _labels(r for r in rows if counts(r, sure=sure, at_limit=None))
    later = _labels(
        r for r in rows if counts(r, sure=sure, failed=True, at_limit=None) and r.label not in now
    )
    return now, later


@dataclass(frozen=True)
class Failure:
    """One failing event: ``kind`` is ``emfile``, ``timeout`` or ``crash``."""

    kind: str
    timestamp: int
    stream: str
    request_id: str | None
    invocation: int | None  # 1-based, counted from the cold start of its life
    disguises: tuple[str, ...]
    message: str
    at_init: bool = False  # during the cold start's INIT, before its first invocation ran


@dataclass(frozen=True)
class Life:
    """One execution environment's run from a cold start (or the first line seen)."""

    cold_start: bool  # False when the logs begin mid-life
    start: int  # ms
    invocations: int
    first_failure: Failure | None

    @property
    def invocations_to_failure(self) -> int | None:
        """Invocations from the cold start up to and including the first failing one."""
        return None if self.first_failure is None else self.first_failure.invocation


@dataclass(frozen=True)
class StreamTriage:
    """What one log stream (one execution environment on Lambda) went through."""

    stream: str
    invocations: int
    cold_starts: int
    emfile: int
    disguises: dict[str, int]
    timeouts: int
    crashes: int
    lives: tuple[Life, ...]
    first_failure: Failure | None
    fd_use: tuple[float, ...]  # per EMF record, in time order
    fd_max: float | None
    fd_trend: dict[str, Any] | None  # rate, shape, confidence, leaking, invocations_to_limit

    @property
    def failed(self) -> bool:
        """Any EMFILE disguise, timeout or crash."""
        return bool(self.emfile or self.timeouts or self.crashes)

    @property
    def invocations_to_failure(self) -> int | None:
        """The fewest invocations any life of this stream survived before failing."""
        counts = [n for n in (life.invocations_to_failure for life in self.lives) if n]
        return min(counts) if counts else None


@dataclass(frozen=True)
class Triage:
    """The answer: totals, EMFILE by disguise, and the streams, worst first."""

    source: str  # "local" or "cloudwatch"
    events: int  # rows the timeline query returned
    truncated: bool  # a query hit its row limit: narrow the time range
    emfile: int
    disguises: dict[str, int]
    timeouts: int
    crashes: int
    cold_starts: int
    invocations: int
    streams: tuple[StreamTriage, ...]
    samples: tuple[Failure, ...]  # the first event of each disguise and failure kind
    queries: dict[str, str] = field(default_factory=lambda: dict(QUERIES))
    # lines the log readers could not read, by reason (local sources only)
    skipped: dict[str, int] = field(default_factory=dict)
    # the same per file (its path), and where a truncated compressed file stopped
    skipped_files: dict[str, dict[str, int]] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)

    @property
    def failing_streams(self) -> list[str]:
        """Streams with any EMFILE disguise, timeout or crash, worst first."""
        return [s.stream for s in self.streams if s.failed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``fdscope triage --json``), schema ``fdscope.triage/1``."""
        d = asdict(self)
        d["failing_streams"] = self.failing_streams
        for s, obj in zip(d["streams"], self.streams, strict=True):
            s["failed"] = obj.failed
            s["invocations_to_failure"] = obj.invocations_to_failure
            for life, lobj in zip(s["lives"], obj.lives, strict=True):
                life["invocations_to_failure"] = lobj.invocations_to_failure
        return {"schema": "fdscope.triage/1", **d}

    def json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def text(self, *, width: int = 100) -> str:  # noqa: C901
        """A plain-text report, the one ``fdscope triage`` prints."""
        out: list[str] = []
        nstreams = len(self.streams)
        failing = self.failing_streams
        if self.emfile:
            hit = sum(1 for s in self.streams if s.emfile)
            out.append(f"EMFILE: {self.emfile} event(s) in {hit} of {nstreams} stream(s)")
            for name, n in sorted(self.disguises.items(), key=lambda kv: -kv[1]):
                out.append(f"  {name:<22} {n:>6}   {DISGUISES[name][1]}")
        else:
            out.append(f"EMFILE: none found in {nstreams} stream(s)")
        out.append(
            f"timeouts: {self.timeouts}   crashes: {self.crashes}   "
            f"cold starts: {self.cold_starts}   invocations: {self.invocations}"
        )
        if self.truncated:
            out.append("note: a query hit its row limit; narrow --start/--end for exact counts")
        if failing:
            out.append("")
            out.append(f"failing streams, worst first ({len(failing)} of {nstreams}):")
            for s in self.streams:
                if not s.failed:
                    continue
                out.append(f"  {s.stream}")
                bits = [f"{s.invocations} invocation(s)", f"{s.cold_starts} cold start(s)"]
                if s.emfile:
                    bits.append(f"{s.emfile} EMFILE")
                if s.timeouts:
                    bits.append(f"{s.timeouts} timeout(s)")
                if s.crashes:
                    bits.append(f"{s.crashes} crash(es)")
                out.append("    " + ", ".join(bits))
                for life in s.lives:
                    if life.first_failure is None:
                        continue
                    f = life.first_failure
                    what = f.kind if not f.disguises else f"{f.kind} ({', '.join(f.disguises)})"
                    origin = "cold start" if life.cold_start else "start of the logs"
                    where = "at init" if f.at_init else f"at invocation {f.invocation}"
                    out.append(f"    {origin} -> first failure {where}: {what}")
                if s.fd_trend:
                    out.append("    " + _trend_text(s.fd_trend))
        healthy = [s for s in self.streams if not s.failed]
        leaking = [s for s in healthy if s.fd_trend and s.fd_trend["leaking"]]
        if leaking:
            out.append("")
            out.append(f"leaking, not failed yet ({len(leaking)}):")
            for s in leaking:
                t = s.fd_trend or {}
                line = f"  {s.stream}: {_trend_text(t)}"
                if t.get("invocations_to_limit") is not None and s.fd_max:
                    line += f", {t['invocations_to_limit']} invocation(s) to {_fmt(s.fd_max)}"
                out.append(line)
        if healthy:
            out.append(f"streams without failures: {len(healthy)}")
        if self.samples:
            out.append("")
            out.append("first of each:")
            for f in self.samples:
                label = f.kind + (f" ({', '.join(f.disguises)})" if f.disguises else "")
                msg = f.message.strip().splitlines()[0] if f.message.strip() else ""
                room = max(20, width - len(label) - 6)
                out.append(f"  {label}: {msg[:room]}")
        return "\n".join(out)


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def _trend_text(t: dict[str, Any]) -> str:
    """``fd_use 100 -> 550 over 4 record(s) before the first failure: +150.0/invocation (rising)``:
    the numbers are those of the records the rate was computed on."""
    span = "before the first failure" if t["before_failure"] else "in all"
    head = f"fd_use {_fmt(t['first'])} -> {_fmt(t['last'])} over {t['points']} record(s) {span}"
    if t["shape"] == "too few points":
        return f"{head}: too few points for a trend"
    return f"{head}: {t['rate']:+.1f}/invocation ({t['shape']})"


# ------------------------------------------------------------------------ analysis


def _ts(value: str | None) -> int:
    if value is None:
        return 0
    t = parse_timestamp(value)
    if t is not None:
        return t
    try:
        return int(float(value))
    except ValueError:
        return 0


def _number(value: str | None) -> float | None:
    """A numeric field value; Powertools writes ``[156.0]`` (an EMF array): its last item."""
    if value is None:
        return None
    found = _NUMBER.findall(value)
    if not found:
        return None
    v = float(found[-1])
    return v if math.isfinite(v) else None


_RID = re.compile(
    r"RequestId: ([0-9a-fA-F-]{36})|\"requestId\": ?\"([^\"]+)\"|^\S+ ([0-9a-fA-F-]{36}) Task timed out"
)


def _request_id(message: str) -> str | None:
    """A request id the message names (platform lines, JSON records, the timeout line)."""
    m = _RID.search(message)
    if m is None:
        return None
    return m.group(1) or m.group(2) or m.group(3)


def _platform(message: str) -> tuple[str, str | None, bool]:
    """(kind, request id, cold) for a platform line: kind START, REPORT, INIT or ''."""
    m = _START.match(message)
    if m:
        return "START", m.group(1), False
    m = _REPORT.match(message)
    if m:
        return "REPORT", m.group(1), "Init Duration:" in message
    if message.startswith("INIT_START "):
        return "INIT", None, True
    if message.startswith("{") and '"platform.' in message:
        try:
            d = json.loads(message)
        except ValueError:
            return "", None, False
        if not isinstance(d, dict):
            return "", None, False
        record = d.get("record")
        rec: dict[str, Any] = record if isinstance(record, dict) else {}
        rid = rec.get("requestId") if isinstance(rec.get("requestId"), str) else None
        kind = {"platform.initStart": "INIT", "platform.start": "START"}.get(d.get("type", ""))
        if kind:
            return kind, rid, kind == "INIT"
        if d.get("type") == "platform.report":
            metrics = rec.get("metrics")
            return "REPORT", rid, isinstance(metrics, dict) and "initDurationMs" in metrics
    return "", None, False


class _Stream:
    """Builds one stream's lives and failures from its timeline rows, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lives: list[dict[str, Any]] = []
        self.invocations = 0
        self.cold_starts = 0
        self.failures: list[Failure] = []
        self.by_request: dict[str, tuple[int, int]] = {}  # request id -> (life, invocation)
        # (kind, ts, rid, message, sure disguises, loose disguises, (life, invocation), at init)
        self.pending: list[
            tuple[
                str, int, str | None, str, tuple[str, ...], tuple[str, ...], tuple[int, int], bool
            ]
        ] = []
        self.failed_at: list[tuple[str | None, tuple[int, int]]] = []  # error statuses
        self.pending_init = False
        self.init_life = False  # the last life was opened by a failure during its INIT

    def _life(self, ts: int, cold: bool) -> dict[str, Any]:
        life = {"cold": cold, "start": ts, "invocations": 0, "first": None}
        self.lives.append(life)
        return life

    def start(self, ts: int, rid: str | None) -> None:
        self.init_life = False
        if self.pending_init or not self.lives:
            self._life(ts, self.pending_init)
            if self.pending_init:
                self.cold_starts += 1
            self.pending_init = False
        life = self.lives[-1]
        life["invocations"] += 1
        self.invocations += 1
        if rid:
            self.by_request[rid] = (len(self.lives) - 1, life["invocations"])

    def init(self) -> None:
        if not self.init_life:  # Lambda retries a failed INIT: the same cold start
            self.pending_init = True

    def report(self, ts: int, rid: str | None, cold: bool) -> None:
        known = rid is not None and rid in self.by_request
        if not known:  # no START seen for it: count the invocation from its REPORT
            if cold:
                self.pending_init = True
            self.start(ts, rid)
            return
        li, inv = self.by_request[rid]  # type: ignore[index]
        life = self.lives[li]
        if cold and inv == 1 and not life["cold"]:  # Init Duration without INIT_START
            life["cold"] = True
            self.cold_starts += 1

    def _pos(self) -> tuple[int, int]:
        if self.lives:
            return (len(self.lives) - 1, self.lives[-1]["invocations"])
        return (-1, 0)

    def failure(
        self,
        kind: str,
        ts: int,
        rid: str | None,
        msg: str,
        disguises: list[str],
        loose: list[str] = (),  # type: ignore[assignment]
    ) -> None:
        """Note a failure where it stands in the timeline; :meth:`finish` places it.

        ``loose`` disguises count only if the invocation turns out to have failed.
        """
        at_init = self.pending_init or self.init_life
        if self.pending_init and not rid:  # during INIT: it belongs to the cold start to come
            self._life(ts, True)
            self.cold_starts += 1
            self.pending_init = False
            self.init_life = True
        pos = self._pos()
        self.pending.append((kind, ts, rid, msg, tuple(disguises), tuple(loose), pos, at_init))

    def failed(self, rid: str | None) -> None:
        """The invocation standing here (or ``rid``'s) failed: an error status."""
        self.failed_at.append((rid, self._pos()))

    def finish(self) -> None:
        """Place each failure in its invocation: by request id, else where it stood."""
        seen: set[tuple[str, str]] = set()

        def place(rid: str | None, pos: tuple[int, int], at_init: bool = False) -> tuple[int, int]:
            li, inv = self.by_request.get(rid, pos) if rid else pos
            return (li, max(inv, 1)) if at_init else (li, inv)  # INIT: of the first invocation

        failed = {place(rid, pos) for rid, pos in self.failed_at}
        for kind, _, rid, _, disguises, _, pos, at_init in self.pending:
            if kind != "emfile" or disguises:
                failed.add(place(rid, pos, at_init))
        for kind, ts, rid, msg, sure, loose, pos, at_init in self.pending:
            li, inv = place(rid, pos, at_init)
            disguises = sure + tuple(d for d in loose if (li, inv) in failed and li >= 0)
            if kind == "emfile" and not disguises:
                continue
            if kind in ("timeout", "crash"):  # one per invocation, however many lines say so
                key = (kind, f"{li}/{inv}") if inv else (kind, rid or f"ts{ts}")
                if key in seen:
                    continue
                seen.add(key)
            f = Failure(kind, ts, self.name, rid, inv or None, disguises, msg, at_init and inv <= 1)
            self.failures.append(f)
            if li >= 0:
                first = self.lives[li]["first"]
                if first is None or (f.invocation or 0) < (first.invocation or 0):
                    self.lives[li]["first"] = f


def _analyze(  # noqa: C901
    timeline: Sequence[dict[str, str | None]],
    fd_rows: Sequence[dict[str, str | None]],
    *,
    source: str,
    truncated: bool,
) -> Triage:
    streams: dict[str, _Stream] = {}
    for row in timeline:
        name = row.get("@logStream") or ""
        s = streams.get(name)
        if s is None:
            s = streams[name] = _Stream(name)
        msg = row.get("@message") or ""
        ts = _ts(row.get("@timestamp"))
        rid = row.get("@requestId") or None
        kind, prid, cold = _platform(msg)
        if kind == "START":
            s.start(ts, prid)
        elif kind == "INIT":
            s.init()
        elif kind == "REPORT":
            s.report(ts, prid, cold)
        rid = rid or prid or _request_id(msg)
        now, later = _weigh(msg)
        if now or later:
            s.failure("emfile", ts, rid, msg, now, later)
        if _FAILED.search(msg):
            s.failed(rid)
        if _TIMEOUT.search(msg):
            s.failure("timeout", ts, rid, msg, [])
        if _CRASH.search(msg):
            s.failure("crash", ts, rid, msg, [])

    for s in streams.values():
        s.finish()
    # Lambda Insights writes its records to /aws/lambda-insights, in streams of its own:
    # a record's request_id puts it in the function's stream that served the request
    owner = {rid: s.name for s in streams.values() for rid in s.by_request}
    fd: dict[str, list[tuple[int, float]]] = {}
    fd_max: dict[str, float] = {}
    for row in fd_rows:
        name = row.get("@logStream") or ""
        rid = row.get("request_id")
        if name not in streams and rid and rid in owner:
            name = owner[rid]
        v = _number(row.get("fd_use"))
        if v is None:
            continue
        fd.setdefault(name, []).append((_ts(row.get("@timestamp")), v))
        m = _number(row.get("fd_max"))
        if m is not None:
            fd_max[name] = m
        streams.setdefault(name, _Stream(name))

    results = [_stream_result(s, fd.get(s.name, []), fd_max.get(s.name)) for s in streams.values()]
    results.sort(key=_worst_first)
    disguises: Counter[str] = Counter()
    samples: dict[str, Failure] = {}
    for st in streams.values():
        for f in st.failures:
            disguises.update(f.disguises)
            for key in [f"emfile/{d}" for d in f.disguises] or [f.kind]:
                if key not in samples or f.timestamp < samples[key].timestamp:
                    samples[key] = f
    unique = {id(f): f for f in samples.values()}
    return Triage(
        source=source,
        events=len(timeline),
        truncated=truncated,
        emfile=sum(r.emfile for r in results),
        disguises={name: disguises[name] for name in DISGUISES if disguises[name]},
        timeouts=sum(r.timeouts for r in results),
        crashes=sum(r.crashes for r in results),
        cold_starts=sum(r.cold_starts for r in results),
        invocations=sum(r.invocations for r in results),
        streams=tuple(results),
        samples=tuple(sorted(unique.values(), key=lambda f: f.timestamp)),
    )


def _stream_result(
    s: _Stream, fd_points: list[tuple[int, float]], fd_max: float | None
) -> StreamTriage:
    fd = [v for _, v in fd_points]
    # the trend that led to the failure: records up to the first one, never those after it
    # (a table at its limit stays flat, a restart starts low: both would hide the leak)
    first = min((f.timestamp for f in s.failures), default=None)
    series = [v for t, v in fd_points if first is None or t <= first]
    trend = _fd_trend(series, fd_max, before_failure=first is not None) if fd else None
    lives = tuple(
        Life(bool(x["cold"]), int(x["start"]), int(x["invocations"]), x["first"]) for x in s.lives
    )
    kinds = Counter(f.kind for f in s.failures)
    dis: Counter[str] = Counter()
    for f in s.failures:
        dis.update(f.disguises)
    return StreamTriage(
        stream=s.name,
        invocations=s.invocations,
        cold_starts=s.cold_starts,
        emfile=kinds["emfile"],
        disguises=dict(dis),
        timeouts=kinds["timeout"],
        crashes=kinds["crash"],
        lives=lives,
        first_failure=min(s.failures, key=lambda f: f.timestamp) if s.failures else None,
        fd_use=tuple(fd),
        fd_max=fd_max,
        fd_trend=trend,
    )


SHORT = 6  # fewer points than this never pass the trend module's Mann-Kendall 1% level


def _fd_trend(series: list[float], fd_max: float | None, *, before_failure: bool) -> dict[str, Any]:
    """The ``fd_use`` trend of ``series`` (one record per invocation, in order).

    From :data:`SHORT` points on, :func:`fdscope.trend.analyze` decides. A shorter series
    cannot be significant there, and a fast leak reaches EMFILE within five invocations, so
    ``flat`` would hide it: with 3 to 5 points a series whose every step goes up by
    :data:`~fdscope.trend.MIN_GROWTH` in all is ``rising`` (a leak), one that moves less than
    that is ``flat``, anything else, and any series under 3 points, ``too few points``.
    """
    from fdscope.trend import MIN_GROWTH, analyze

    n = len(series)
    out: dict[str, Any] = {
        "points": n,
        "before_failure": before_failure,
        "first": series[0] if series else None,
        "last": series[-1] if series else None,
        "rate": None,
        "shape": "too few points",
        "confidence": 0.0,
        "leaking": False,
        "peak": max(series) if series else None,
        "invocations_to_limit": None,
    }
    if n < 2:
        return out
    t = analyze(series, min_points=3)
    out.update(rate=t.rate, confidence=t.confidence)
    if n >= SHORT:
        to_limit = t.invocations_to_limit(fd_max) if fd_max else None
        out.update(shape=t.shape, leaking=t.leaking, invocations_to_limit=to_limit)
        return out
    steps = [b - a for a, b in zip(series, series[1:], strict=False)]
    if n >= 3 and all(d > 0 for d in steps) and series[-1] - series[0] >= MIN_GROWTH:
        out.update(shape="rising", leaking=t.rate > 0)
        if fd_max and t.rate > 0:
            left = fd_max - series[-1]
            out["invocations_to_limit"] = max(0, math.ceil(left / t.rate))
    elif n >= 3 and max(series) - min(series) < MIN_GROWTH:
        out["shape"] = "flat"
    return out


def _worst_first(s: StreamTriage) -> tuple[Any, ...]:
    """Failing first; then the quickest to fail, the most EMFILE, timeouts, crashes, fd peak."""
    to_fail = s.invocations_to_failure
    return (
        not s.failed,
        to_fail if to_fail is not None else math.inf,
        -s.emfile,
        -(s.timeouts + s.crashes),
        -(max(s.fd_use) if s.fd_use else 0.0),
        s.stream,
    )


# ------------------------------------------------------------------------ runners


def _local(query: str, limit: int) -> str:
    """The local form of a query: the file's own line order within each stream.

    Raw stdout gives untimed lines the time of the line before, and JSON log
    lines carry whole seconds, so sorting by time could put a failure before the
    START of its invocation; the engine keeps source order among equal keys.
    """
    # no row limit locally (the limit command's own bound is CloudWatch's): every row is read,
    # and _run_all keeps the first ``limit``
    lines = query.replace("sort @timestamp asc", "sort @logStream asc").split("\n")
    return "\n".join(line for line in lines if line.strip() != f"| limit {_LIMIT_CW}")


def _run_all(run: Callable[[str], Any], *, source: str, limit: int) -> Triage:
    if source == "local":
        first = run(_local(QUERIES["timeline"], limit))
        fd_rows = run(_local(QUERIES["fd_use"], limit)).rows
    else:
        first = run(QUERIES["timeline"])
        fd_rows = run(QUERIES["fd_use"]).rows
    timeline = first.rows
    truncated = len(timeline) >= limit or len(fd_rows) >= limit
    timeline, fd_rows = timeline[:limit], fd_rows[:limit]
    result = _analyze(timeline, fd_rows, source=source, truncated=truncated)
    stats = getattr(first, "statistics", None) or {}
    skipped = stats.get("skipped") if isinstance(stats, dict) else None
    if isinstance(skipped, dict) and skipped:
        result = replace(result, skipped={str(k): int(v) for k, v in skipped.items()})
    if isinstance(stats, dict) and (stats.get("skippedFiles") or stats.get("stopped")):
        result = replace(
            result,
            skipped_files=dict(stats.get("skippedFiles") or {}),
            stopped=dict(stats.get("stopped") or {}),
        )
    return result


def triage(
    sources: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    start: int | None = None,
    end: int | None = None,
    log_group: str | None = None,
    limit: int = 1_000_000,
) -> Triage:
    """Triage local logs (files, ``.gz``, directories, run directories).

    ``start``/``end`` in ms since the epoch bound the events read. Raises
    LogReadError for a source that cannot be read, QueryError if a query fails.
    """
    from fdscope.insights import execute

    srcs = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)

    def run(q: str) -> Any:
        return execute(q, srcs, start=start, end=end, log_group=log_group, default_limit=None)

    return _run_all(run, source="local", limit=limit)


def triage_cloudwatch(
    log_groups: Sequence[str] | str,
    *,
    start: int,
    end: int,
    client: Any = None,
    poll_seconds: float = 1.0,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> Triage:
    """Run the same queries on CloudWatch Logs Insights over ``log_groups`` (boto3).

    At most 10,000 rows per query come back (``truncated`` says when the limit
    was hit). Raises CloudWatchQueryError (a QueryError) when CloudWatch fails.
    """
    from fdscope.insights import cloudwatch

    def run(q: str) -> Any:
        return cloudwatch.execute(
            q,
            log_groups,
            start=start,
            end=end,
            client=client,
            poll_seconds=poll_seconds,
            on_progress=on_progress,
        )

    return _run_all(run, source="cloudwatch", limit=_LIMIT_CW)
