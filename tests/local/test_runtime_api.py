"""The Runtime API server on its own: endpoints, headers, loopback only, TCP_NODELAY.

A real server on 127.0.0.1 driven by a real HTTP client (``http.client``) and by
the pure-Python runtime client that stands in for the native one.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fdscope.local._api import PREFIX, Invocation, RuntimeAPI
from tests.helpers.local_lambda import listening_ports


@pytest.fixture
def api() -> Iterator[RuntimeAPI]:
    """A Runtime API with a thread accepting connections; closed after the test."""
    server = RuntimeAPI()
    stop = threading.Event()

    def loop() -> None:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(server.socket, selectors.EVENT_READ)
            while not stop.is_set():
                if sel.select(timeout=0.05):
                    server.accept()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield server
    stop.set()
    t.join(2)
    server.close()
    assert server.port not in listening_ports()


def _inv(rid: str = "req-1", body: bytes = b'{"k": 1}', timeout_s: float = 3.0) -> Invocation:
    return Invocation(
        request_id=rid,
        body=body,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        trace_id="Root=1-00000000-000000000000000000000000;Sampled=0",
        timeout_s=timeout_s,
    )


def _conn(api: RuntimeAPI) -> http.client.HTTPConnection:
    host, port = api.address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def test_binds_loopback_only(api: RuntimeAPI) -> None:
    host, port = api.socket.getsockname()[:2]
    assert host == "127.0.0.1" and api.address == f"127.0.0.1:{port}"
    # The kernel's own table: the listening socket is on 127.0.0.1, not 0.0.0.0.
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = [
        r.split()[1] for r in rows if r.split()[3] == "0A" and int(r.split()[1][-4:], 16) == port
    ]
    assert local == [f"0100007F:{port:04X}"]
    # Reaching it through any other address of this machine fails.
    others = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            others.add(info[4][0])
    except OSError:
        pass
    for addr in others - {"127.0.0.1"}:
        if addr.startswith("127."):
            continue
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(1)
            s.connect((addr, port))


def test_next_then_response_with_lambda_headers(api: RuntimeAPI) -> None:
    inv = _inv()
    api.submit(inv)
    c = _conn(api)
    c.request("GET", PREFIX + "/invocation/next")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and body == b'{"k": 1}'
    assert r.getheader("Lambda-Runtime-Aws-Request-Id") == "req-1"
    assert r.getheader("Lambda-Runtime-Invoked-Function-Arn").endswith(":function:f")
    assert r.getheader("Lambda-Runtime-Trace-Id").startswith("Root=1-")
    deadline = int(r.getheader("Lambda-Runtime-Deadline-Ms"))
    assert inv.dispatched_at is not None
    assert abs(deadline - (inv.dispatched_at + 3.0) * 1000) < 5
    assert api.init_done.is_set()
    # keep-alive: the same connection posts the response
    c.request("POST", PREFIX + "/invocation/req-1/response", body=b'"done"')
    r = c.getresponse()
    assert r.status == 202 and json.loads(r.read()) == {"status": "OK"}
    assert inv.outcome == "response" and inv.result == b'"done"'
    # a second answer for the same request is refused
    c.request("POST", PREFIX + "/invocation/req-1/response", body=b'"again"')
    r = c.getresponse()
    assert r.status == 400 and r.read()
    c.close()


def test_error_and_unknown_request_and_paths(api: RuntimeAPI) -> None:
    inv = _inv("req-2")
    api.submit(inv)
    c = _conn(api)
    c.request("GET", PREFIX + "/invocation/next")
    c.getresponse().read()
    c.request("POST", PREFIX + "/invocation/other/error", body=b"{}")
    r = c.getresponse()
    assert r.status == 400 and r.read()
    err = {"errorMessage": "bad", "errorType": "ValueError", "stackTrace": ["  File x\n"]}
    c.request(
        "POST",
        PREFIX + "/invocation/req-2/error",
        body=json.dumps(err).encode(),
        headers={"Lambda-Runtime-Function-Error-Type": "Unhandled"},
    )
    r = c.getresponse()
    assert r.status == 202 and r.read()
    assert inv.outcome == "error" and inv.error == err
    c.request("GET", "/2018-06-01/runtime/nope")
    r = c.getresponse()
    assert r.status == 404 and r.read()
    c.request("GET", PREFIX + "/restore/next")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b""
    c.close()


def test_error_body_that_is_not_json_is_kept(api: RuntimeAPI) -> None:
    inv = _inv("req-3")
    api.submit(inv)
    c = _conn(api)
    c.request("GET", PREFIX + "/invocation/next")
    c.getresponse().read()
    c.request(
        "POST",
        PREFIX + "/invocation/req-3/error",
        body=b"not json \xff",
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"},
    )
    assert c.getresponse().status == 202
    assert inv.error is not None
    assert inv.error["errorType"] == "Runtime.Custom"
    assert inv.error["errorMessage"].startswith("not json")
    c.close()


def test_init_error_is_recorded_and_wakes_waiters(api: RuntimeAPI) -> None:
    woken = threading.Event()
    api.waiters = [woken]
    c = _conn(api)
    err = {
        "errorMessage": "Unable to import module 'app'",
        "errorType": "Runtime.ImportModuleError",
    }
    c.request("POST", PREFIX + "/init/error", body=json.dumps(err).encode())
    assert c.getresponse().status == 202
    assert api.init_error == err and woken.is_set()
    c.close()


def test_chunked_request_body(api: RuntimeAPI) -> None:
    inv = _inv("req-4")
    api.submit(inv)
    c = _conn(api)
    c.request("GET", PREFIX + "/invocation/next")
    c.getresponse().read()
    c.request(
        "POST",
        PREFIX + "/invocation/req-4/response",
        body=iter([b'{"a": ', b'"chunked"}']),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert c.getresponse().status == 202
    assert json.loads(inv.result or b"") == {"a": "chunked"}
    c.close()


def test_response_over_six_megabytes_is_an_error(api: RuntimeAPI) -> None:
    inv = _inv("req-5")
    api.submit(inv)
    c = _conn(api)
    c.request("GET", PREFIX + "/invocation/next")
    c.getresponse().read()
    c.request("POST", PREFIX + "/invocation/req-5/response", body=b"x" * (6 * 1024 * 1024 + 1))
    r = c.getresponse()
    assert r.status == 413 and r.read()
    assert inv.outcome == "error" and inv.error is not None
    assert inv.error["errorType"] == "Function.ResponseSizeTooLarge"
    c.close()


def test_accepted_sockets_have_tcp_nodelay(api: RuntimeAPI) -> None:
    c = _conn(api)
    c.request("GET", PREFIX + "/restore/next")
    c.getresponse().read()
    conns = list(api._server._conns)
    assert conns
    assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1 for s in conns)
    c.close()


def test_close_wakes_a_blocked_next(api: RuntimeAPI) -> None:
    c = _conn(api)
    result: dict[str, object] = {}

    def ask() -> None:
        try:
            c.request("GET", PREFIX + "/invocation/next")
            result["status"] = c.getresponse().status
        except OSError as exc:
            result["error"] = exc

    t = threading.Thread(target=ask)
    t.start()
    assert api.init_done.wait(5)
    api.close()
    t.join(5)
    assert not t.is_alive()
    assert result.get("status") == 410 or "error" in result
    c.close()


def test_pure_python_runtime_client_speaks_the_api(
    api: RuntimeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = (
        Path(__file__).resolve().parents[2] / "src/fdscope/local/_child/runtime_client_fallback.py"
    )
    spec = importlib.util.spec_from_file_location("fallback_runtime_client", path)
    assert spec and spec.loader
    rc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rc)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    rc.initialize_client("test-agent/1")
    a, b = _inv("r-a", b'{"x": 1}'), _inv("r-b", b"[]")
    api.submit(a)
    body, headers = rc.next()
    assert body == b'{"x": 1}' and headers["Lambda-Runtime-Aws-Request-Id"] == "r-a"
    rc.post_invocation_result("r-a", b'{"ok": true}', "application/json")
    assert a.outcome == "response" and a.result == b'{"ok": true}'
    api.submit(b)
    body, headers = rc.next()
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "r-b"
    rc.post_error("r-b", json.dumps({"errorType": "E", "errorMessage": "m"}), "")
    assert b.outcome == "error" and b.error == {"errorType": "E", "errorMessage": "m"}
    with pytest.raises(RuntimeError):
        rc.post_invocation_result("r-b", b"late", "application/json")  # already answered


def _raw(api: RuntimeAPI, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; what comes back until the server closes."""
    host, port = api.address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_raw_requests_any_header_case_and_bad_input(api: RuntimeAPI) -> None:
    # The request parser reads headers by name in any case; what it cannot read is
    # answered with an HTTP error, never a dropped server.
    api.submit(_inv("req-raw"))
    got = _raw(api, f"GET {PREFIX}/invocation/next HTTP/1.1\r\nhOsT: x\r\n\r\n".encode())
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Lambda-Runtime-Aws-Request-Id: req-raw" in head
    assert body == b'{"k": 1}'
    answer = b"done!"
    got = _raw(
        api,
        f"POST {PREFIX}/invocation/req-raw/response HTTP/1.1\r\ncontent-LENGTH: {len(answer)}"
        "\r\nconnection: close\r\n\r\n".encode()
        + answer,
    )
    assert got.startswith(b"HTTP/1.1 202 ") and b"Connection: close" in got
    assert api._current is None or api._current.result == answer
    assert b"400" in _raw(api, b"NONSENSE\r\n\r\n")  # http.server's answer (HTTP/0.9 form)
    assert b"400" in _raw(api, b"GET / HTTP/1.1 extra\r\n\r\n")
    many = "".join(f"X-{i}: {i}\r\n" for i in range(150))
    got = _raw(api, f"GET {PREFIX}/restore/next HTTP/1.1\r\n{many}\r\n".encode())
    assert got.startswith(b"HTTP/1.1 431")
    got = _raw(api, f"GET {PREFIX}/restore/next HTTP/1.0\r\n\r\n".encode())
    assert got.startswith(b"HTTP/1.1 200")  # and the server closed: _raw returned
