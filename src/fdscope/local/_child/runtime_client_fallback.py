"""A pure-Python stand-in for awslambdaric's native ``runtime_client`` module.

Used only when the native extension cannot load (``--python`` with another
CPython version than fdscope's): same four functions, same Runtime API calls,
one keep-alive HTTP/1.1 connection like the native client's curl handle.
Installed into the child's path as ``runtime_client.py``, after site-packages.
"""

import http.client
import os
import socket

_API = "/2018-06-01/runtime"
_state = {"conn": None, "agent": "aws-lambda-python/fdscope-fallback"}


def initialize_client(user_agent):  # type: ignore[no-untyped-def]
    _state["agent"] = user_agent


def _conn():  # type: ignore[no-untyped-def]
    conn = _state["conn"]
    if conn is None:
        conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _state["conn"] = conn
    return conn


def _call(method, path, body=None, headers=None):  # type: ignore[no-untyped-def]
    all_headers = {"User-Agent": _state["agent"]}
    all_headers.update(headers or {})
    conn = _conn()
    try:
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException):
        _state["conn"] = None
        conn.close()
        raise
    return resp, data


def next():  # noqa: A001  (the native module's name)  # type: ignore[no-untyped-def]
    resp, data = _call("GET", _API + "/invocation/next")
    if resp.status != 200:
        raise RuntimeError(f"Runtime API /next returned {resp.status}")
    return data, {k: v for k, v in resp.getheaders()}


def post_invocation_result(invoke_id, result, content_type, invocation_id=None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": content_type or "application/json"}
    if invocation_id:
        headers["Lambda-Runtime-Invocation-Id"] = invocation_id
    resp, data = _call("POST", f"{_API}/invocation/{invoke_id}/response", result, headers)
    if resp.status != 202:
        raise RuntimeError(f"Runtime API /response returned {resp.status}: {data!r}")


def post_error(invoke_id, error_json, xray_fault, invocation_id=None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if xray_fault:
        headers["Lambda-Runtime-Function-XRay-Error-Cause"] = xray_fault
    if invocation_id:
        headers["Lambda-Runtime-Invocation-Id"] = invocation_id
    body = error_json.encode("utf-8") if isinstance(error_json, str) else error_json
    resp, data = _call("POST", f"{_API}/invocation/{invoke_id}/error", body, headers)
    if resp.status != 202:
        raise RuntimeError(f"Runtime API /error returned {resp.status}: {data!r}")
