"""Readers: every log format of FORMATS.md section 1 into :class:`LogEvent`.

Standard library only. The format is detected per file (a JSON document, JSON
lines of CloudWatch events) and otherwise per line, because raw Lambda stdout
mixes runtime records, bare ``print`` lines, platform lines and JSON lines.
"""

from __future__ import annotations

import calendar
import gzip
import io
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fdscope.errors import LogReadError
from fdscope.logs._model import LogEvent, ReadStats

__all__ = ["is_event_object", "parse_timestamp", "read_events", "read_lines"]

# --------------------------------------------------------------------------- time

_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|z|[+-]\d\d:?\d\d)?$"
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}


_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> ms, for the common record time
# the times a datetime can hold (year 1 to 9999): an event outside them is counted, not read
MAX_MS = 253_402_300_799_999
MIN_MS = -62_135_596_800_000


def _timegm_ms(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int) -> int | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 24 and mi <= 59 and s <= 60 and y >= 1):
        return None
    try:
        return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms
    except (ValueError, OverflowError):
        return None


def parse_timestamp(text: str) -> int | None:
    """Return ms since the epoch for an ISO-like time, or ``None`` if it is not one.

    Accepts ``2026-11-28T02:03:56Z``, ``2026-11-28T02:03:56.123Z``, ``2026-11-28
    02:03:56,123+0000`` (Powertools), ``2026-11-28T02:03:56.123000+00:00`` (aws
    logs tail) and ``2026-11-28 02:03:56.123`` (Logs Insights); a naive time is UTC.
    """
    if len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T":
        # the runtime's own "2026-11-28T02:03:56.123Z": one calendar sum per second
        base = _SECONDS.get(text[:19])
        if base is not None and text[20:23].isdigit():
            return base + int(text[20:23])
    m = _ISO.match(text.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    ms = int(frac[:3].ljust(3, "0")) if frac else 0
    t = _timegm_ms(y, mo, d, h, mi, s, ms)
    if t is None:
        return None
    tz = m.group(8)
    if len(text) == 24 and tz == "Z" and frac and len(frac) == 3:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        _SECONDS[text[:19]] = t - ms
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return t


def _json_time(d: dict[str, Any]) -> int | None:
    """The time of a JSON log line: EMF ``_aws.Timestamp``, ``timestamp``, ``time``."""
    aws = d.get("_aws")
    if isinstance(aws, dict):
        t = _number_time(aws.get("Timestamp"))
        if t is not None:
            return t
    for key in ("timestamp", "time", "@timestamp", "ts"):
        v = d.get(key)
        if isinstance(v, str):
            t = parse_timestamp(v)
            if t is not None:
                return t
        else:
            t = _number_time(v)
            if t is not None:
                return t
    return None


def _number_time(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v < 0:
        return None
    if v > MAX_MS:  # past the year 9999 (not ms, not s)
        return None
    return int(v) if v > 1e11 else int(v * 1000)


# ----------------------------------------------------------------------- patterns

# awslambdaric: "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_RECORD = re.compile(
    r"\[[A-Za-z][A-Za-z0-9 ]{0,19}\]\t(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z?)\t[^\t]*\t"
)
# the Node.js runtime's order (aws-lambda-ric LogPatch.js): "<time>\t<requestId>\t<LEVEL>\t<message>";
# the request id is "undefined" outside an invocation (init); on stdout the runtime writes a
# multi-line message as one line with "\r" for each newline
_NODE_RECORD = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t(?:[0-9a-fA-F-]{36}|undefined)\t"
    r"(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t"
)
# "<time> <requestId> Task timed out after 30.03 seconds" (whole line is the message)
_TIMEOUT = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) [0-9a-fA-F-]{36} Task timed out after "
)
# aws logs tail: "<ISO time> <logStream> <message>" (detailed) or "<time> <message>" (short);
# an S3 export (create-export-task) line: "<ISO time>Z <message>".
_TAIL = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(Z|[+-]\d\d:\d\d)?(?: (.*))?$", re.DOTALL
)
_LAMBDA_STREAM = re.compile(r"\d{4}/\d\d/\d\d/\[[^\]]*\]\S+$")
# the Runtime Interface Emulator's own lines: "28 Nov 2026 02:03:56,123 [INFO] (rapid) ..."
_RIE = re.compile(r"(\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d),(\d{3}) \[")
# what a JSON document starts with (a "[INFO]\t..." record line does not)
_JSONISH = re.compile(r"\s*[\[{]\s*(?:[\"\[{\]}]|$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PLATFORM = (
    "START RequestId: ",
    "END RequestId: ",
    "REPORT RequestId: ",
    "INIT_START ",
    "INIT_REPORT ",
    "INIT_RUNTIME_DONE",
    "RESTORE_START ",
    "RESTORE_REPORT ",
    "EXTENSION\t",
    "TELEMETRY\t",
    "LOGS\t",
    "XRAY TraceId: ",
)
_TB_CHAIN = (
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Exception Group Traceback (most recent call last):",
)
# the keys of a CloudWatch event object (filter-log-events, get-log-events, events.jsonl)
_EVENT_KEYS = frozenset(
    (
        "timestamp",
        "message",
        "logStreamName",
        "logStream",
        "logGroupName",
        "logGroup",
        "ingestionTime",
        "eventId",
    )
)

# event kinds that accept continuation lines
_K_NONE, _K_RECORD, _K_TAIL = 0, 1, 2


def _is_event_dict(d: dict[str, Any], *, loose: bool) -> bool:
    ts = d.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return False
    if not isinstance(d.get("message"), str):
        return False
    return loose or d.keys() <= _EVENT_KEYS


def is_event_object(d: Any) -> bool:
    """True for a CloudWatch event object: a numeric ``timestamp``, a ``message`` and no other
    keys than an event's (stream, group, ``ingestionTime``, ``eventId``).

    ``{"timestamp": 1795834800123, "level": "ERROR", "message": "db down"}`` is an
    application's JSON log line, not an event: its other fields must stay discoverable.
    """
    return isinstance(d, dict) and _is_event_dict(d, loose=False)


class _Open:
    """An event being built from one or more lines."""

    __slots__ = ("fmt", "indented", "ingestion", "in_tb", "kind", "parts", "stream", "ts")

    def __init__(self, ts: int | None, text: str, kind: int, fmt: str, stream: str) -> None:
        self.ts = ts
        self.parts = [text]
        self.kind = kind
        self.fmt = fmt
        self.stream = stream
        self.ingestion: int | None = None
        self.in_tb = text.startswith(_TB_CHAIN)
        self.indented = False

    def continues(self, line: str) -> bool:
        """Whether ``line`` belongs to this event (a traceback under a record, tail text)."""
        if self.kind == _K_TAIL:
            return _TAIL.match(line) is None
        if self.kind != _K_RECORD:
            return False
        if line[:1] in (" ", "\t", "\xa0"):
            self.indented = True
            return True
        if line.startswith(_TB_CHAIN):
            self.in_tb = True
            self.indented = False
            return True
        if not line:
            return self.in_tb
        if self.in_tb and self.indented:  # the exception line closing a traceback
            self.indented = False
            return True
        return False

    def message(self) -> str:
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        while len(parts) > 1 and not parts[-1]:
            parts.pop()
        return "\n".join(parts)


class _LineParser:
    """Turns the lines of one text source into events, one format decision per line."""

    def __init__(
        self,
        *,
        stream: str,
        group: str,
        stats: ReadStats,
        fallback_ts: int,
        strict_json: bool = False,
    ) -> None:
        self.stream = stream
        self.group = group
        self.stats = stats
        self.fallback_ts = fallback_ts
        self.strict_json = strict_json
        # JSON lines of CloudWatch events (decided by the first line): there every object
        # with a timestamp and a message is an event, and other objects are not-an-event
        self.events_file = False
        self.last_ts: int | None = None
        self.pending: list[_Open] = []  # untimed events before the first timed line
        self.cur: _Open | None = None
        # whether the source is `aws logs tail` / S3 export text, decided by its first
        # line: only there do untimed lines continue the event before them (elsewhere a
        # print of an ISO time followed by more prints must not swallow them)
        self.tail_mode: bool | None = None
        self.out: list[LogEvent] = []  # events completed, for the caller to take

    def take(self) -> list[LogEvent]:
        """The events completed since the last call."""
        out, self.out = self.out, []
        return out

    # -- emission
    def _emit(self, o: _Open) -> None:
        if o.ts is None:
            if self.last_ts is None:
                self.pending.append(o)
                if len(self.pending) >= 10_000:
                    self._flush_pending(self.fallback_ts)
                return
            o.ts = self.last_ts
        else:
            self.last_ts = o.ts
            if self.pending:
                self._flush_pending(o.ts)
        self.out.append(self._event(o, o.ts))

    def _flush_pending(self, ts: int) -> None:
        pending, self.pending = self.pending, []
        for p in pending:
            self.out.append(self._event(p, ts))

    def _event(self, o: _Open, ts: int) -> LogEvent:
        self.stats.events += 1
        self.stats.formats[o.fmt] += 1
        return LogEvent(ts, o.message(), o.stream, self.group, o.ingestion)

    def _json_event(self, d: dict[str, Any], fmt: str) -> None:
        ts = d["timestamp"]
        if ts != ts:  # NaN
            self.stats.malformed["bad-event"] += 1
            return
        if not MIN_MS <= ts <= MAX_MS:  # before the year 1 or past 9999
            self.stats.malformed["bad-timestamp"] += 1
            return
        ts = int(ts)
        stream = d.get("logStreamName") or d.get("logStream") or self.stream
        group = d.get("logGroupName") or d.get("logGroup") or self.group
        ing = d.get("ingestionTime")
        if (
            isinstance(ing, bool)
            or not isinstance(ing, (int, float))
            or ing != ing
            or abs(ing) > 1e16
        ):
            ing = None
        self.last_ts = ts
        if self.pending:
            self._flush_pending(ts)
        self.stats.events += 1
        self.stats.formats[fmt] += 1
        self.out.append(
            LogEvent(ts, d["message"], str(stream), str(group), None if ing is None else int(ing))
        )

    def json_object(self, d: Any, fmt: str, *, raw: str | None) -> None:
        """A parsed JSON value: an export document, an event, a Logs Insights row or a log line."""
        if isinstance(d, list):
            for item in d:
                if isinstance(item, dict):
                    self.json_object(item, fmt, raw=None)
                else:
                    self.stats.malformed["not-an-event"] += 1
            return
        if not isinstance(d, dict):
            self.stats.malformed["not-an-event"] += 1
            return
        events = d.get("events")
        if isinstance(events, list) and "message" not in d:
            for e in events:
                if isinstance(e, dict) and _is_event_dict(e, loose=True):
                    self._json_event(e, fmt)
                else:
                    self.stats.malformed["bad-event"] += 1
            return
        if _is_event_dict(d, loose=self.events_file or raw is None):
            self._json_event(d, fmt)
            return
        msg = d.get("@message")
        if isinstance(msg, str):  # a Logs Insights result row
            t = d.get("@timestamp")
            ts = parse_timestamp(t) if isinstance(t, str) else _number_time(t)
            o = _Open(ts, msg, _K_NONE, "insights-json", str(d.get("@logStream") or self.stream))
            self._emit(o)
            return
        if raw is None or self.events_file:
            self.stats.malformed["not-an-event"] += 1
            return
        self._emit(_Open(_json_time(d), raw, _K_NONE, "json-log", self.stream))

    # -- lines
    def feed(self, line: str) -> None:
        """Take one line (without its newline); yield the events it completes."""
        cur = self.cur
        if cur is not None:
            if cur.kind and cur.continues(line):
                glued = line.find('{"_aws"', 1) if cur.kind == _K_RECORD else -1
                if glued == -1:
                    cur.parts.append(line)
                    return
                # awslambdaric ends a record with a traceback without a newline, so the
                # next write (an EMF record) is glued to the exception line: split it off
                cur.parts.append(line[:glued])
                line = line[glued:]
            self.cur = None
            self._emit(cur)
        if not line.strip():
            return
        if line[0] == "\x1b":  # aws logs tail with colour on
            line = _ANSI.sub("", line)
            if not line.strip():
                return
        c = line[0]
        if c == "{" or (c == "[" and self.strict_json):
            try:
                d = json.loads(line)
            except (ValueError, RecursionError):
                d = None
            if isinstance(d, (dict, list)):
                self.json_object(d, "cloudwatch-jsonl", raw=line)
                return
            if self.strict_json:
                self.stats.malformed["bad-json"] += 1
                return
        elif self.strict_json:
            self.stats.malformed["bad-json"] += 1
            return
        cur = self._text_line(line)
        if self.tail_mode is None:
            self.tail_mode = cur.kind == _K_TAIL
        elif cur.kind == _K_TAIL and not self.tail_mode:  # a line that starts with a time
            cur.kind, cur.parts, cur.fmt, cur.stream = _K_NONE, [line], "lambda-text", self.stream
        self.cur = cur

    def _text_line(self, line: str) -> _Open:
        stream = self.stream
        c = line[0]
        if c == "[":
            m = _RECORD.match(line)
            if m is not None:
                return _Open(parse_timestamp(m.group(1)), line, _K_RECORD, "lambda-text", stream)
            if line.startswith("[ERROR] "):  # the runtime's report of an uncaught exception
                return _Open(None, line.replace("\r", "\n"), _K_NONE, "lambda-text", stream)
        elif c.isdigit():
            m = _TIMEOUT.match(line)
            if m is not None:
                return _Open(parse_timestamp(m.group(1)), line, _K_NONE, "lambda-text", stream)
            m = _NODE_RECORD.match(line)
            if m is not None:
                text = line.replace("\r", "\n") if "\r" in line else line
                return _Open(parse_timestamp(m.group(1)), text, _K_RECORD, "lambda-text", stream)
            m = _TAIL.match(line)
            if m is not None:
                ts = parse_timestamp(m.group(1) + (m.group(2) or ""))
                if ts is not None:
                    rest = m.group(3) or ""
                    tz = m.group(2)
                    if tz and tz != "Z":  # aws logs tail --format detailed
                        token, _, msg = rest.partition(" ")
                        return _Open(ts, msg, _K_TAIL, "tail", token or stream)
                    token, sep, msg = rest.partition(" ")
                    if sep and _LAMBDA_STREAM.match(token):
                        return _Open(ts, msg, _K_TAIL, "tail", token)
                    fmt = "s3-export" if tz == "Z" else "tail"
                    return _Open(ts, rest, _K_TAIL, fmt, stream)
            m = _RIE.match(line)
            if m is not None and m.group(2) in _MONTHS:
                d, mon, y, h, mi, s, ms = m.groups()
                ts = _timegm_ms(int(y), _MONTHS[mon], int(d), int(h), int(mi), int(s), int(ms))
                return _Open(ts, line, _K_NONE, "lambda-text", stream)
        if line.startswith(_TB_CHAIN):  # a traceback on stderr: one event, like a record
            return _Open(None, line, _K_RECORD, "lambda-text", stream)
        return _Open(None, line, _K_NONE, "lambda-text", stream)

    def finish(self) -> None:
        """Yield what is still open at the end of the source."""
        if self.cur is not None:
            cur, self.cur = self.cur, None
            self._emit(cur)
        if self.pending:
            self._flush_pending(self.last_ts if self.last_ts is not None else self.fallback_ts)


def read_lines(
    lines: Iterable[str],
    *,
    log_stream: str,
    log_group: str = "",
    stats: ReadStats | None = None,
    default_timestamp: int = 0,
) -> Iterator[LogEvent]:
    """Yield the events in ``lines`` of text (any line format of FORMATS.md section 1).

    Lines without a time of their own (bare ``print`` output, platform lines) take
    the time of the last timed line, or of the first one when none came before,
    or ``default_timestamp``; lines without a stream get ``log_stream``. Never raises
    for content: what cannot be read is counted in ``stats``.
    """
    st = stats if stats is not None else ReadStats()
    p = _LineParser(stream=log_stream, group=log_group, stats=st, fallback_ts=default_timestamp)
    for line in lines:
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        p.feed(line)
        if p.out:
            yield from p.take()
    p.finish()
    yield from p.take()


# -------------------------------------------------------------------------- files

_SKIP_SUFFIXES = frozenset(
    (
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".svg",
        ".pdf",
        ".py",
        ".pyc",
        ".md",
        ".rst",
        ".zip",
        ".parquet",
        ".duckdb",
        ".db",
        ".sqlite",
        ".html",
        ".csv",
        ".toml",
        ".cfg",
        ".ini",
        ".yaml",
        ".yml",
    )
)
_RUN_FILES = ("run.json", "events.jsonl")


def _decode(raw: bytes, stats: ReadStats) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.bad_utf8 += 1
        return raw.decode("utf-8", errors="replace")


def _strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def _stream_name(path: Path, root: Path | None) -> str:
    """A stream name for a file that holds no stream names: its path under the source."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.isdigit() or (name.split(".")[0].isdigit() and path.parent.name):
        # an S3 export: <prefix>/<task>/<stream>/000000.gz, where a Lambda stream name
        # (YYYY/MM/DD/[$LATEST]<hex>) spans four folders
        parts = path.parent.parts
        if len(parts) >= 4 and _LAMBDA_STREAM.match("/".join(parts[-4:])):
            return "/".join(parts[-4:])
        return path.parent.name
    if root is not None and root != path:
        try:
            rel = path.parent.relative_to(root).as_posix()
        except ValueError:
            rel = "."
        return name if rel == "." else f"{rel}/{name}"
    return name


def _read_file(path: Path, root: Path | None, stats: ReadStats, group: str) -> Iterator[LogEvent]:
    try:
        raw_f = open(path, "rb")  # noqa: SIM115 - closed below, generator-owned
        mtime = int(os.fstat(raw_f.fileno()).st_mtime * 1000)
    except OSError as exc:
        raise LogReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    before = stats.malformed.copy()
    gz: _SalvageGzip | None = None
    with raw_f:
        f: Any = raw_f
        if path.name.endswith(".gz"):
            gz = _SalvageGzip(raw_f)
            f = io.BufferedReader(gz, 1 << 16)
        stats.files += 1
        try:
            yield from _read_open(f, path, root, stats, group, mtime)
        except (OSError, EOFError, zlib.error) as exc:
            reason = (
                "bad-gzip"
                if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error))
                or (f is not raw_f and "gzip" in str(exc).lower())
                else "read-error"
            )
            stats.malformed[reason] += 1
        finally:
            if gz is not None and gz.stopped:
                # what the compressed file held up to the cut was read: say where it ended
                stats.malformed["truncated-gzip" if gz.stopped == "truncated" else "bad-gzip"] += 1
                stats.stopped[str(path)] = (
                    f"{'truncated' if gz.stopped == 'truncated' else 'corrupt'} compressed data: "
                    f"read {gz.out_bytes} bytes ({gz.in_bytes} of {gz.size} compressed), "
                    "the rest is lost"
                )
            diff = stats.malformed - before
            if diff:
                stats.by_file.setdefault(str(path), Counter()).update(diff)


class _SalvageGzip(io.RawIOBase):
    """A gzip stream that gives what it holds: a truncated or corrupt member ends the data
    (``stopped`` says why) instead of losing the last buffer with an exception."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.d = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.stopped = ""  # "", "truncated" or "corrupt"
        self.in_bytes = self.out_bytes = 0
        try:
            self.size = os.fstat(raw.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            self.size = 0
        self.started = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.pending:
            if self.stopped:
                return 0
            if self.d.eof:
                rest = self.d.unused_data
                if not rest.strip(b"\x00"):
                    rest += self.raw.read(1 << 16)
                    self.in_bytes += len(rest) - len(self.d.unused_data)
                    if not rest.strip(b"\x00"):
                        return 0  # the end (trailing zero padding is allowed)
                self.d = zlib.decompressobj(wbits=31)  # another member
                data = rest
            else:
                data = self.d.unconsumed_tail or self.raw.read(1 << 16)
                if not self.d.unconsumed_tail:
                    self.in_bytes += len(data)
                if not data:
                    if self.started:
                        self.stopped = "truncated"
                        return 0
                    raise gzip.BadGzipFile("empty compressed file")
            try:
                self.pending = self.d.decompress(data, 1 << 20)
            except zlib.error:
                if not self.started:
                    raise gzip.BadGzipFile("not a gzip file") from None
                self.stopped = "corrupt"
                return 0
            self.started = True
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        self.out_bytes += n
        return n


_CONTROL = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]")


def _lines(f: Any) -> Iterator[bytes]:
    """The lines of a binary file as UTF-8 bytes: a UTF-8 byte-order mark dropped, UTF-16
    (a Windows PowerShell 5 ``>`` redirect, marked by its BOM) decoded."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if head.startswith(b"\xef\xbb\xbf"):
        f.read(3)
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = io.TextIOWrapper(f, encoding="utf-16", errors="replace", newline="")
        return (line.encode("utf-8", errors="replace") for line in text)
    return iter(f)


def _denul(raw: bytes, stats: ReadStats) -> bytes:
    """``raw`` without its NUL bytes, counted (a copytruncate-rotated log starts with NUL
    padding: the run is skipped, never the file)."""
    if b"\x00" not in raw:
        return raw
    stats.malformed["nul-run"] += 1
    return raw.replace(b"\x00", b"")


def _read_open(
    f: Any, path: Path, root: Path | None, stats: ReadStats, group: str, mtime: int
) -> Iterator[LogEvent]:
    stream = _stream_name(path, root)
    lines = _lines(f)
    first = b""
    head: list[bytes] = []
    for raw in lines:
        raw = _denul(raw, stats)
        head.append(raw)
        if raw.strip():
            first = raw
            break
    if len(_CONTROL.findall(first[:4096])) > len(first[:4096]) // 10:
        stats.malformed["binary-file"] += 1  # control bytes all over: not text
        return
    text_first = _decode(_strip_eol(first), stats).strip() if first else ""
    strict = path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))
    parser = _LineParser(
        stream=stream, group=group, stats=stats, fallback_ts=mtime, strict_json=strict
    )
    if text_first[:1] in ("{", "["):
        try:
            d = json.loads(text_first)
        except (ValueError, RecursionError):
            d = None
        if d is None and not strict:
            # a JSON document over several lines: filter-log-events / get-log-events output
            rest = b"".join(head) + b"".join(lines)
            rest = _denul(rest, stats)
            yield from _read_document(_decode(rest, stats), parser, stats)
            return
        if is_event_object(d):
            parser.strict_json = parser.events_file = True  # JSON lines of CloudWatch events
    feed = parser.feed
    for raw in head:
        feed(_decode(_strip_eol(raw), stats))
    if parser.out:
        yield from parser.take()
    for raw in lines:
        raw = _denul(raw, stats)
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.bad_utf8 += 1
            line = raw.decode("utf-8", errors="replace")
        feed(line)
        if parser.out:
            yield from parser.take()
    parser.finish()
    yield from parser.take()


def _read_document(text: str, parser: _LineParser, stats: ReadStats) -> Iterator[LogEvent]:
    """One or more concatenated JSON documents; a truncated one is salvaged event by event.

    Text that is not JSON after all (a ``print("{")`` first) is read line by line.
    """
    dec = json.JSONDecoder()
    pos, n = 0, len(text)
    before = stats.events
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        try:
            d, pos = dec.raw_decode(text, pos)
        except (ValueError, RecursionError):
            _salvage(text, pos, parser, dec)
            if parser.out or stats.events > before or _JSONISH.match(text, pos):
                stats.malformed["truncated-json"] += 1
                yield from parser.take()
                break
            for line in text[pos:].split("\n"):
                parser.feed(line[:-1] if line.endswith("\r") else line)
                if parser.out:
                    yield from parser.take()
            break
        parser.json_object(d, "cloudwatch-json", raw=None)
        if parser.out:
            yield from parser.take()
    parser.finish()
    yield from parser.take()


def _salvage(text: str, pos: int, parser: _LineParser, dec: json.JSONDecoder) -> None:
    """Recover the complete event objects of a cut-off export document."""
    start = text.find("[", pos)
    while start != -1:
        start = text.find("{", start + 1)
        if start == -1:
            break
        try:
            d, end = dec.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        if isinstance(d, dict) and _is_event_dict(d, loose=True):
            parser._json_event(d, "cloudwatch-json")
            start = end - 1


def _is_run_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in _RUN_FILES)


def _read_dir(root: Path, stats: ReadStats, group: str) -> Iterator[LogEvent]:
    if _is_run_dir(root):
        yield from _read_file(root / "events.jsonl", root, stats, group)
        return
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise LogReadError(f"cannot read directory {root}: {exc.strerror or exc}") from None
    yield from _walk(root, entries, stats, group)


def _walk(
    root: Path, entries: list[os.DirEntry[str]], stats: ReadStats, group: str
) -> Iterator[LogEvent]:
    for e in entries:
        if e.name.startswith("."):
            continue
        p = Path(e.path)
        try:
            is_dir = e.is_dir(follow_symlinks=False)
            is_file = e.is_file()
        except OSError:
            stats.malformed["read-error"] += 1
            continue
        if is_dir:
            if _is_run_dir(p):
                yield from _read_file(p / "events.jsonl", root, stats, group)
                continue
            try:
                sub = sorted(os.scandir(p), key=lambda x: x.name)
            except OSError:
                stats.malformed["read-error"] += 1
                continue
            yield from _walk(root, sub, stats, group)
        elif is_file:
            name = e.name[:-3] if e.name.endswith(".gz") else e.name
            if Path(name).suffix.lower() in _SKIP_SUFFIXES:
                continue
            try:
                yield from _read_file(p, root, stats, group)
            except LogReadError:
                stats.malformed["read-error"] += 1


def read_events(
    *sources: str | os.PathLike[str],
    stats: ReadStats | None = None,
    log_group: str | None = None,
) -> Iterator[LogEvent]:
    """Yield the log events of every source, in source order then file order.

    A source is a file (``.gz`` too), a directory (read recursively, sorted,
    skipping hidden files and non-log suffixes) or a run directory (its
    ``events.jsonl``). Events that name no log group get ``log_group`` (or "").
    A malformed line is counted in ``stats`` and skipped; a source that cannot
    be opened at all raises :class:`~fdscope.errors.LogReadError`.
    """
    st = stats if stats is not None else ReadStats()
    group = log_group or ""
    for src in sources:
        if not os.fspath(src):
            raise LogReadError("empty log source path")
        path = Path(src)
        if path.is_dir():
            yield from _read_dir(path, st, group)
        elif path.exists():
            yield from _read_file(path, None, st, group)
        else:
            raise LogReadError(f"no such log source: {path}")
