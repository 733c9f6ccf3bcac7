"""moto in server mode on 127.0.0.1, served with HTTP/1.1 keep-alive.

moto's own server (and werkzeug's) answers every request with
``Connection: close``, so a client never keeps a connection and a retained
boto3 client holds no descriptor. Real AWS endpoints keep connections alive; to
reproduce that, this serves moto's WSGI application through
``http.server.ThreadingHTTPServer`` speaking HTTP/1.1, every response framed
with Content-Length. Use as a context manager.
"""

from __future__ import annotations

import io
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from moto.server import DomainDispatcherApplication, create_backend_app

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def _make_handler(app: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            environ = {
                "REQUEST_METHOD": self.command,
                "SCRIPT_NAME": "",
                "PATH_INFO": url.path,
                "QUERY_STRING": url.query,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(self.server.server_address[1]),
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": self.client_address[0],
                "CONTENT_LENGTH": str(length),
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            for key, value in self.headers.items():
                name = "HTTP_" + key.upper().replace("-", "_")
                if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    environ[name] = value
            status_headers: list[Any] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
                status_headers[:] = [status, headers]
                return lambda data: None

            chunks = app(environ, start_response)
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

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class MotoKeepAlive:
    """A real moto server on 127.0.0.1:<ephemeral>, keep-alive, in a thread."""

    def __init__(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(app))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MotoKeepAlive:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
