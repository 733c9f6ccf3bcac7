"""The Lambda Runtime API, served on 127.0.0.1 for one execution environment.

Language-neutral: any runtime interface client (Python's ``awslambdaric``,
Node's ``aws-lambda-ric``) talks to it. One :class:`RuntimeAPI` serves one
environment; a restart gets a fresh server, so a request left over from a dead
environment can never take the next invocation.

Endpoints (``/2018-06-01/runtime/...``): ``GET invocation/next``,
``POST invocation/{id}/response``, ``POST invocation/{id}/error``,
``POST init/error``; also ``GET restore/next`` and ``POST restore/error``
(SnapStart hooks, answered trivially). Sockets get ``TCP_NODELAY``: without it
Nagle's algorithm and delayed ACKs cost about 40-90 ms per invocation.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit


@dataclass
class Invocation:
    """One invocation on its way through the API (mutable, guarded by ``wake``)."""

    request_id: str
    body: bytes
    function_arn: str
    trace_id: str
    timeout_s: float
    client_context: str | None = None
    dispatched_at: float | None = None  # time.time() when /next handed it out
    dispatched_mono: float | None = None
    deadline_ms: int | None = None
    outcome: str | None = None  # "response" | "error"
    result: bytes | None = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None
    finished_mono: float | None = None
    wake: threading.Event = field(default_factory=threading.Event)


class RuntimeAPI:
    """A Runtime API server for one environment, listening on 127.0.0.1 only.

    ``on_dispatch(inv)`` runs in the server thread just before an invocation
    is handed to the runtime, ``on_finish(inv)`` just after its response or
    error arrived (both before the runtime gets its answer): the log collector
    uses them to put START/END at the right place among the function's output.
    """

    def __init__(
        self,
        on_dispatch: Callable[[Invocation], None] | None = None,
        on_finish: Callable[[Invocation], None] | None = None,
        on_init_error: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._pending: queue.Queue[Invocation | None] = queue.Queue()
        self._current: Invocation | None = None
        self._lock = threading.Lock()
        self.on_dispatch = on_dispatch
        self.on_finish = on_finish
        self.on_init_error = on_init_error
        self.init_done = threading.Event()
        self.init_done_at: float | None = None  # time.time() of the first /next
        self.init_done_mono: float | None = None
        self.init_error: dict[str, Any] | None = None
        self.closed = False
        self.waiters: list[threading.Event] = []  # woken on init done / init error
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self

    # -- the server side -------------------------------------------------
    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def socket(self) -> socket.socket:
        """The listening socket (for a selector; call :meth:`accept` when readable)."""
        return self._server.socket

    def accept(self) -> None:
        """Accept one pending connection; each connection gets its own thread."""
        self._server._handle_request_noblock()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop listening, wake a blocked ``/next`` and drop connections."""
        self.closed = True
        self._pending.put(None)
        self._server.server_close()
        self._server.close_connections()

    # -- the invoker side ------------------------------------------------
    def submit(self, inv: Invocation) -> None:
        """Queue an invocation; the runtime's next ``/next`` takes it."""
        self._pending.put(inv)

    # -- called from handler threads --------------------------------------
    def _next(self) -> Invocation | None:
        if not self.init_done.is_set():
            self.init_done_at = time.time()
            self.init_done_mono = time.monotonic()
            self.init_done.set()
            self._wake_waiters()
        inv = self._pending.get()
        if inv is None or self.closed:
            self._pending.put(None)  # wake any other waiter too
            return None
        inv.dispatched_at = time.time()
        inv.dispatched_mono = time.monotonic()
        inv.deadline_ms = int((inv.dispatched_at + inv.timeout_s) * 1000)
        with self._lock:
            self._current = inv
        if self.on_dispatch is not None:
            self.on_dispatch(inv)
        inv.wake.set()
        return inv

    def _finish(self, request_id: str, outcome: str, body: bytes, error_type: str | None) -> int:
        with self._lock:
            inv = self._current
            if inv is None or inv.request_id != request_id or inv.outcome is not None:
                return 400
        inv.finished_at = time.time()
        inv.finished_mono = time.monotonic()
        if outcome == "response" and len(body) > MAX_RESPONSE_BYTES:
            outcome = "error"
            error_type = "Function.ResponseSizeTooLarge"
            body = json.dumps(
                {
                    "errorType": error_type,
                    "errorMessage": f"Response payload size ({len(body)} bytes) exceeded "
                    f"maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                }
            ).encode()
        if outcome == "error":
            inv.error = _error_body(body, error_type)
        else:
            inv.result = body
        if self.on_finish is not None:
            self.on_finish(inv)
        inv.outcome = outcome
        inv.wake.set()
        return (
            413
            if inv.error and inv.error.get("errorType") == "Function.ResponseSizeTooLarge"
            else 202
        )

    def _init_failed(self, body: bytes, error_type: str | None) -> None:
        self.init_error = _error_body(body, error_type)
        if self.on_init_error is not None:
            self.on_init_error(self.init_error)
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        for ev in list(self.waiters):
            ev.set()


def _error_body(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(data, dict):
        data = {"errorMessage": str(data)}
    if error_type and not data.get("errorType"):
        data["errorType"] = error_type
    data.setdefault("errorType", "Unhandled")
    data.setdefault("errorMessage", "")
    return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False
    api: RuntimeAPI

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a runtime killed mid-request is normal here

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Headers(dict):  # type: ignore[type-arg]
    """Request headers by lower-cased name; ``get`` ignores case (all the handler needs)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    raw_requestline: bytes  # set by handle_one_request (typeshed does not declare it)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def parse_request(self) -> bool:
        """The request line and headers, read directly (``http.server`` builds an
        ``email`` message per request, about a tenth of a millisecond on every
        invocation); anything unusual goes to the standard parser."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        parts = line.split()
        if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = line
        self.command, self.path, self.request_version = parts
        headers = _Headers()
        while True:
            raw = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(raw) > MAX_HEADER_LINE or len(headers) > MAX_HEADERS:
                self.send_error(431, "Request header fields too large")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        if headers.get("expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return True

    def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Status line, headers and body in one write (one segment on the wire)."""
        merged = {"Content-Type": "application/json", **(headers or {})}
        reason = self.responses.get(code, ("",))[0]
        lines = [f"{self.protocol_version} {code} {reason}"]
        lines.extend(f"{k}: {v}" for k, v in merged.items())
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        api = self.server.api
        if self.path == PREFIX + "/invocation/next":
            inv = api._next()
            if inv is None:
                self.close_connection = True
                self._reply(410, b'{"errorType":"EnvironmentShutdown"}')
                return
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            }
            if inv.client_context:
                headers["Lambda-Runtime-Client-Context"] = inv.client_context
            self._reply(200, inv.body, headers)
        elif self.path == PREFIX + "/restore/next":
            self._reply(200)
        else:
            self._reply(404, b'{"errorType":"InvalidRequest","errorMessage":"unknown path"}')

    def do_POST(self) -> None:  # noqa: N802
        api = self.server.api
        body = self._body()
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        parts = self.path[len(PREFIX) :].strip("/").split("/")
        if self.path.startswith(PREFIX) and len(parts) == 3 and parts[0] == "invocation":
            if parts[2] not in ("response", "error"):
                self._reply(404)
                return
            code = api._finish(parts[1], parts[2], body, error_type)
            if code == 400:
                self._reply(400, b'{"errorType":"InvalidRequestID"}')
            else:
                self._reply(code, b'{"status":"OK"}')
        elif self.path == PREFIX + "/init/error":
            api._init_failed(body, error_type)
            self._reply(202, b'{"status":"OK"}')
        elif self.path == PREFIX + "/restore/error":
            self._reply(202, b'{"status":"OK"}')
        else:
            self._reply(404, b'{"errorType":"InvalidRequest","errorMessage":"unknown path"}')
