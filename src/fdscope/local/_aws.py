"""The AWS endpoint the handler is given (``--aws-endpoint``): a local one, or the user's, checked.

AWS's endpoints keep HTTP/1.1 connections alive, so an SDK client kept between
invocations (``_clients.append(boto3.client("s3"))``, ``new S3Client({})`` per call)
keeps one connected socket each: the commonest Lambda leak. moto's own server (and
werkzeug's) answers every request with ``Connection: close``: against it a retained
client holds no socket and the leak does not show.

:class:`LocalAWS` serves moto's WSGI application (the ``local-aws`` extra) on
127.0.0.1 through ``http.server`` speaking HTTP/1.1 keep-alive, every response framed
with Content-Length, as AWS does. :func:`check_endpoint` asks a user's endpoint once
whether it keeps a connection. :func:`handler_endpoint` is the context manager the
CLI holds for the run: ``"local"`` starts (and at the end stops) a LocalAWS, a URL is
checked, and a warning comes back when it closes connections.

The endpoint is a plain ``http://127.0.0.1:PORT``: the local Lambda's sandbox
forwards a loopback endpoint into its network namespace (``_sandbox.loopback_endpoints``).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import resource
import select
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from fdscope._extras import extra
from fdscope.errors import DoctorError

LOCAL = "local"  # --aws-endpoint local
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
CLOSES_WARNING = (
    "--aws-endpoint {url} closes connections ({how}): an SDK client kept between "
    "invocations holds no socket against it, so retained clients will not show "
    "(AWS keeps connections alive); use --aws-endpoint local (moto with keep-alive)"
)


def _environ(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    url = urlsplit(handler.path)
    address = handler.server.server_address
    environ: dict[str, Any] = {
        "REQUEST_METHOD": handler.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(address[1]) if isinstance(address, tuple) else "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": handler.client_address[0],
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in handler.headers.items():
        name = "HTTP_" + key.upper().replace("-", "_")
        if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[name] = value
    return environ


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        out = bytearray()  # the JavaScript SDK streams some bodies chunked
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _make_handler(app: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the client asks to close

        def _serve(self) -> None:
            if self.headers.get("Expect", "").lower() == "100-continue":
                self.send_response_only(100)
                self.end_headers()
            body = _read_body(self)
            status_headers: list[Any] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
                status_headers[:] = [status, headers]
                return lambda data: None

            chunks = app(_environ(self, body), start_response)
            try:
                payload = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
            status, headers = status_headers
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for key, value in headers:
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve

        def handle_expect_100(self) -> bool:
            return True  # answered in _serve, once the request is routed

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, app: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _make_handler(app))

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.lock:
            held = list(self.connections)
        for conn in held:  # the threads reading them see the end and finish
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _raise_fd_limit() -> None:
    """The server holds one descriptor per connection a leaking handler keeps: up to the
    handler's own limit, on top of fdscope's. Raise this process's soft limit to its hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class LocalAWS:
    """moto on ``127.0.0.1:<ephemeral>`` with HTTP/1.1 keep-alive, in a thread.

    Every service moto implements answers at :attr:`endpoint` (the request's signature
    names the service). The state lives in this process, from start to :meth:`stop`.
    Raises MissingExtra (``fdscope[local-aws]``) when moto is not installed.
    """

    def __init__(self) -> None:
        with extra("local-aws", "--aws-endpoint local"):
            from moto.server import DomainDispatcherApplication, create_backend_app

        _raise_fd_limit()
        self._server = _Server(DomainDispatcherApplication(create_backend_app))
        self.port: int = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fdscope-local-aws", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every kept connection, release the port."""
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LocalAWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class EndpointCheck:
    """One request to an endpoint: did it answer, and did it keep the connection?"""

    url: str
    reachable: bool
    keeps_alive: bool | None  # None when it did not answer
    how: str  # what was seen: "Connection: close", "closed the socket", "kept", the error


def _closed_soon(sock: socket.socket, wait_s: float) -> bool:
    """The peer closed ``sock`` (EOF) within ``wait_s`` of its answer."""
    try:
        readable, _, _ = select.select([sock], [], [], wait_s)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def check_endpoint(url: str, *, timeout_s: float = 3.0, wait_s: float = 0.3) -> EndpointCheck:
    """Send ``url`` one HTTP/1.1 request asking for keep-alive; see whether the answer
    says ``Connection: close`` or the server closes the socket within ``wait_s``.
    Any answer counts (an AWS endpoint answers an unsigned GET with an error)."""
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False  # asking about connections, not trusting it
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout_s, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/", headers={"Connection": "keep-alive"})
        response = conn.getresponse()
        response.read()
        said = (response.getheader("Connection") or "").lower()
        if "close" in said:
            return EndpointCheck(url, True, False, "Connection: close")
        if response.will_close or conn.sock is None:
            return EndpointCheck(url, True, False, "no keep-alive in its answer")
        if _closed_soon(conn.sock, wait_s):
            return EndpointCheck(url, True, False, "it closed the socket after its answer")
        return EndpointCheck(url, True, True, "kept")
    except (OSError, http.client.HTTPException) as exc:
        return EndpointCheck(url, False, None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


@dataclass
class HandlerEndpoint:
    """The endpoint the handler gets as ``AWS_ENDPOINT_URL`` for one run."""

    given: str  # "local" or the user's URL
    url: str
    local: bool
    keeps_alive: bool | None
    warning: str | None  # for the report, when retained clients will not show

    def to_json(self) -> dict[str, Any]:
        return {
            "given": self.given,
            "url": self.url,
            "local": self.local,
            "keeps_alive": self.keeps_alive,
            "warning": self.warning,
        }


def validate_endpoint(spec: str) -> str:
    """``local`` or an ``http(s)://host[:port]`` URL; raises DoctorError otherwise."""
    if spec == LOCAL:
        return spec
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DoctorError(
            f"--aws-endpoint {spec!r}: expected 'local' or a URL like http://127.0.0.1:5000"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise DoctorError(f"--aws-endpoint {spec!r}: {exc}") from None
    return spec


@contextlib.contextmanager
def handler_endpoint(spec: str | None) -> Iterator[HandlerEndpoint | None]:
    """For ``--aws-endpoint``: None gives None; ``"local"`` serves a :class:`LocalAWS`
    for the block; a URL is checked once (:func:`check_endpoint`) and carries a warning
    when it closes connections or does not answer."""
    if not spec:
        yield None
        return
    validate_endpoint(spec)
    if spec == LOCAL:
        with LocalAWS() as aws:
            yield HandlerEndpoint(LOCAL, aws.endpoint, True, True, None)
        return
    check = check_endpoint(spec)
    warning = None
    if not check.reachable:
        warning = (
            f"--aws-endpoint {spec} did not answer ({check.how}): the handler's AWS calls "
            "will fail; start it, or use --aws-endpoint local"
        )
    elif check.keeps_alive is False:
        warning = CLOSES_WARNING.format(url=spec, how=check.how)
    yield HandlerEndpoint(spec, spec, False, check.keeps_alive, warning)
