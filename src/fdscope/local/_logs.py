"""Log events of a local run, as CloudWatch Logs would hold them.

The runtime writes logging records to ``_LAMBDA_TELEMETRY_LOG_FD`` framed as on
Lambda (awslambdaric's ``FramedTelemetryLogSink``: 4-byte type ``0xa55a00xx``,
4-byte length, 8-byte timestamp in microseconds, message; big-endian), so a
multi-line traceback stays one event. What the function prints to stdout or
stderr becomes one event per line. The platform lines (``START``, ``END``,
``REPORT``, ``INIT_START``, timeouts, runtime exits) are written here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from fdscope.exhaustion import ALWAYS, AT_LIMIT, BOTH, Row, match_line

FRAME_HEADER = 16
FRAME_MAGIC = 0xA55A0000
MAX_LINE = 256 * 1024  # CloudWatch's event size limit; longer lines are split
# events.jsonl stops taking the function's output at LOG_CAP bytes (FDSCOPE_LOG_CAP
# overrides): an output flood wrote 1.8 GB in 20 s. Lambda's own lines (START, END,
# REPORT, ...) go on for PLATFORM_RESERVE more, then stop too; what was dropped is
# counted (run.json "logs") and one event says where it stopped.
LOG_CAP = 128 * 1024 * 1024
PLATFORM_RESERVE = 8 * 1024 * 1024


_PLATFORM = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "INIT_START ")
_PLATFORM2 = ("INIT_REPORT ", "RequestId: ")


def is_platform(message: str) -> bool:
    """Does ``message`` read as one of Lambda's own lines (START, END, REPORT, INIT_*,
    a runtime exit, a timeout)?"""
    return message.startswith(_PLATFORM + _PLATFORM2) or " Task timed out after " in message[:120]


def log_cap() -> int:
    """The cap on ``events.jsonl`` (bytes): ``FDSCOPE_LOG_CAP`` or :data:`LOG_CAP`."""
    try:
        return max(4096, int(os.environ.get("FDSCOPE_LOG_CAP", "") or LOG_CAP))
    except ValueError:
        return LOG_CAP


def stream_name(now: float | None = None) -> str:
    """A new Lambda log stream name: ``YYYY/MM/DD/[$LATEST]<32 hex>``."""
    day = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return f"{day:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


def iso_ms(t: float) -> str:
    """``2024-05-01T12:00:00.123Z``: the time format of Lambda's own lines."""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class EventLog:
    """Appends events to ``events.jsonl`` (thread-safe) and remembers EMFILE marks.

    The marks are the exhaustion table's rows (:mod:`fdscope.exhaustion`) that the
    invocation's lines matched; whether they count is decided at its end, when
    its status and descriptor count are known.
    """

    def __init__(self, path: Path, log_group: str) -> None:
        self.path = path
        self.log_group = log_group
        self._fh: IO[str] = path.open("a", encoding="utf-8")
        self.lock = threading.RLock()
        self.count = 0
        self.emfile_rows: set[Row] = set()  # rows matched in the output; reset per invocation
        self.cap = log_cap()
        self.bytes = path.stat().st_size if path.exists() else 0
        self.dropped = 0  # events not written (past the cap)
        self.capped = False

    def emfile_reset(self) -> None:
        """Forget the marks (the invoker, before each invocation)."""
        with self.lock:
            self.emfile_rows = set()

    @property
    def emfile_seen(self) -> bool:
        """Any evidence in the output, counting or not."""
        return bool(self.emfile_rows)

    @property
    def emfile_strong(self) -> bool:
        """Evidence that counts on its own (an OSError's ``[Errno 24]``)."""
        return any(r.condition == ALWAYS for r in self.emfile_rows)

    @property
    def emfile_disguise(self) -> bool:
        """A library's words for it, which count only with a process at its limit."""
        return any(r.condition in (AT_LIMIT, BOTH) for r in self.emfile_rows)

    def emit(
        self,
        stream: str,
        message: str,
        timestamp_ms: int | None = None,
        *,
        output: bool | None = None,
    ) -> None:
        """Write one event; ``timestamp_ms`` defaults to now. ``output``: the function's
        (dropped past the cap, still searched for EMFILE evidence), else Lambda's own;
        ``None``: Lambda's own when it reads as one of its lines (:func:`is_platform`)."""
        if output is None:
            output = not is_platform(message)
        if output and self.capped:
            with self.lock:
                self.emfile_rows.update(match_line(message))
                self.dropped += 1
            return
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        line = self._line(stream, message, ts)
        with self.lock:
            self.emfile_rows.update(match_line(message))
            limit = self.cap if output else self.cap + PLATFORM_RESERVE
            if self.bytes + len(line) + 1 > limit:
                self.dropped += 1
                if not self.capped:
                    self.capped = True
                    note = self._line(
                        stream,
                        f"fdscope: events.jsonl reached its cap of {self.cap} bytes "
                        "(FDSCOPE_LOG_CAP); the function's further output is dropped "
                        "and counted in run.json (logs.dropped_events)\n",
                        ts,
                    )
                    self._write(note)
                return
            self._write(line)

    def _line(self, stream: str, message: str, ts: int) -> str:
        record = {
            "timestamp": ts,
            "message": message,
            "logStream": stream,
            "logGroup": self.log_group,
            "ingestionTime": max(ts, int(time.time() * 1000)),
        }
        return json.dumps(record)  # ASCII: no U+2028 or NEL to trip line readers

    def _write(self, line: str) -> None:
        self._fh.write(line + "\n")
        self.bytes += len(line) + 1
        self.count += 1

    def record(self) -> dict[str, object]:
        """``run.json``'s ``logs``: the cap, whether it was reached, what was dropped."""
        with self.lock:
            return {
                "events_bytes": self.bytes,
                "cap_bytes": self.cap,
                "capped": self.capped,
                "dropped_events": self.dropped,
            }

    def flush(self) -> None:
        with self.lock:
            self._fh.flush()

    def close(self) -> None:
        with self.lock, contextlib.suppress(OSError):
            self._fh.close()


class Collector:
    """Reads one environment's output descriptors into an :class:`EventLog`.

    ``drain()`` reads whatever is already in the pipes without blocking; the
    runtime API calls it (under :attr:`lock`) before writing START and END so
    the function's output lands between them, as on Lambda. A background
    thread calls it whenever a pipe is readable so the function never blocks
    on a full pipe.
    """

    def __init__(
        self, log: EventLog, stream: str, *, telemetry_fd: int, output_fds: list[int]
    ) -> None:
        self.log = log
        self.stream = stream
        self.lock = log.lock
        self._telemetry_fd: int | None = telemetry_fd
        self._tbuf = bytearray()
        self._outputs: dict[int, bytearray] = {fd: bytearray() for fd in output_fds}
        for fd in [telemetry_fd, *output_fds]:
            os.set_blocking(fd, False)

    @property
    def fds(self) -> list[int]:
        """The descriptors still open (EOF closes them)."""
        out = list(self._outputs)
        if self._telemetry_fd is not None:
            out.append(self._telemetry_fd)
        return out

    def drain(self) -> None:
        """Read everything available now and emit complete events."""
        with self.lock:
            if self._telemetry_fd is not None:
                if self._read(self._telemetry_fd, self._tbuf):
                    self._telemetry_fd = None
                self._frames()
            for fd in list(self._outputs):
                buf = self._outputs[fd]
                eof = self._read(fd, buf)
                self._lines(buf, final=eof)
                if eof:
                    del self._outputs[fd]

    def finish(self) -> None:
        """Drain, flush partial lines, close the descriptors."""
        with self.lock:
            self.drain()
            for fd, buf in list(self._outputs.items()):
                self._lines(buf, final=True)
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._outputs.clear()
            if self._telemetry_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._telemetry_fd)
                self._telemetry_fd = None

    @staticmethod
    def _read(fd: int, buf: bytearray) -> bool:
        """Append what ``fd`` holds to ``buf``; True at EOF (then ``fd`` is closed)."""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return False
            except OSError:
                chunk = b""
            if not chunk:
                with contextlib.suppress(OSError):
                    os.close(fd)
                return True
            buf += chunk
            if len(chunk) < (1 << 16):
                return False

    def _frames(self) -> None:
        buf = self._tbuf
        while len(buf) >= FRAME_HEADER:
            kind = int.from_bytes(buf[0:4], "big")
            length = int.from_bytes(buf[4:8], "big")
            if kind & 0xFFFF0000 != FRAME_MAGIC:
                # Not a frame: keep the bytes as text rather than lose them.
                self.log.emit(self.stream, bytes(buf).decode("utf-8", "replace"))
                buf.clear()
                return
            if len(buf) < FRAME_HEADER + length:
                return
            micros = int.from_bytes(buf[8:16], "big")
            message = bytes(buf[FRAME_HEADER : FRAME_HEADER + length]).decode("utf-8", "replace")
            del buf[: FRAME_HEADER + length]
            self.log.emit(self.stream, message, micros // 1000)

    def _lines(self, buf: bytearray, *, final: bool) -> None:
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) >= MAX_LINE or (final and buf):
                    cut = min(len(buf), MAX_LINE)
                    self.log.emit(self.stream, bytes(buf[:cut]).decode("utf-8", "replace"))
                    del buf[:cut]
                    continue
                return
            cut = min(nl + 1, MAX_LINE)
            self.log.emit(self.stream, bytes(buf[:cut]).decode("utf-8", "replace"))
            del buf[:cut]


# -- platform lines -----------------------------------------------------------
# (INIT_START says which runtime: Runtime.init_start_line)
def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """``REPORT RequestId: …\\tDuration: … ms\\t…`` exactly as Lambda prints it."""
    billed = max(1, math.ceil(duration_ms))
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_memory_mb} MB",
    ]
    if init_duration_ms is not None:
        parts.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status:
        parts.append(f"Status: {status}")
    if error_type:
        parts.append(f"Error Type: {error_type}")
    return "\t".join(parts) + "\t\n"


def timeout_line(request_id: str, timeout_s: float, when: float) -> str:
    return f"{iso_ms(when)} {request_id} Task timed out after {timeout_s:.2f} seconds\n"


def exit_line(request_id: str, how: str) -> str:
    return f"RequestId: {request_id} Error: Runtime exited with error: {how}\nRuntime.ExitError\n"


def init_report_line(init_ms: float, status: str, error_type: str | None) -> str:
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line + "\n"
