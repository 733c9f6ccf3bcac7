"""Sockets made inside libraries name the user's line and the library call.

A real HTTP server on 127.0.0.1; ``requests``/``urllib3`` as installed in the
venv; and a Lambda-style folder where ``pip install --target`` put a package
next to the user's ``app.py``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from origins_helpers import groups_at, line_of

from fdscope import origins

HERE = __file__
SRC = str(Path(__file__).resolve().parents[2] / "src")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's socket stays open in its pool

    def do_GET(self) -> None:  # noqa: N802
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def test_requests_session_names_user_line_and_call(tracking: None, server: str) -> None:
    port = server.rsplit(":", 1)[1].strip("/")
    line = line_of(HERE, "requests_get")
    session = requests.Session()
    try:
        assert session.get(server, timeout=5).text == "ok"  # requests_get
        rep = origins.report()
        here = [g for g in groups_at(rep, HERE, line) if g.kind == "tcp"]
        assert len(here) == 1, rep.text()
        group = here[0]
        assert group.site.call == "requests.Session.get"
        assert group.endpoint == f"127.0.0.1:{port}"
        assert group.site.function == "test_requests_session_names_user_line_and_call"
        # the stack starts at the library call, then the user's frames
        assert group.stack[0].function == "Session.get"
        assert group.stack[1].file == HERE and group.stack[1].line == line
    finally:
        session.close()


def test_urllib3_pool_names_user_line(tracking: None, server: str) -> None:
    line = line_of(HERE, "urllib3_request")
    pool = urllib3.PoolManager()
    try:
        assert pool.request("GET", server).data == b"ok"  # urllib3_request
        here = [g for g in groups_at(origins.report(), HERE, line) if g.kind == "tcp"]
        assert len(here) == 1
        assert here[0].site.call is not None and here[0].site.call.startswith("urllib3.")
        assert not here[0].site.approximate
    finally:
        pool.clear()


def _wheel(tmp: Path) -> Path:
    """A tiny pure-Python wheel, built by hand (a wheel is a zip with a dist-info)."""
    files = {
        "tinynet/__init__.py": textwrap.dedent(
            """
            import socket


            def connect(host, port):
                return socket.create_connection((host, port))
            """
        ),
        "tinynet-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinynet\nVersion: 0.1\n",
        "tinynet-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: fdscope-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("tinynet-0.1.dist-info/RECORD,,")
    files["tinynet-0.1.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = tmp / "tinynet-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


APP = """\
import json, os, socket, sys
import tinynet
import fdscope.origins

server = socket.create_server(("127.0.0.1", 0))
conn = tinynet.connect("127.0.0.1", server.getsockname()[1])  # the user's line
sys.stdout.write(json.dumps(fdscope.origins.report().json()))
"""


def test_pip_install_target_side_by_side(tmp_path: Path) -> None:
    task = tmp_path / "task"  # like Lambda's /var/task
    task.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(task), str(_wheel(tmp_path))],
        check=True,
    )  # fmt: skip
    assert (task / "tinynet-0.1.dist-info" / "RECORD").exists()
    (task / "app.py").write_text(APP)
    env = {"PATH": "/usr/bin:/bin", "FDSCOPE_TRACK": "1", "PYTHONPATH": f"{task}:{SRC}"}
    out = subprocess.run(
        [sys.executable, str(task / "app.py")],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tcp = [g for g in doc["groups"] if g["kind"] == "tcp" and g["site"]["line"] == 6]
    assert len(tcp) == 1, doc["groups"]
    site = tcp[0]["site"]
    assert site["file"] == str(task / "app.py")
    assert site["call"] == "tinynet.connect"
    assert site["function"] == "<module>"
    # the listening socket was made by the user directly
    listen = [g for g in doc["groups"] if g["site"]["line"] == 5]
    assert listen and listen[0]["site"]["call"] == "socket.create_server"


REQUESTS_APP = """\
import json, sys
import requests
import fdscope.origins

assert requests.__file__.startswith(sys.argv[2]), requests.__file__  # the copy in the task dir
session = requests.Session()
session.get(sys.argv[1], timeout=5)  # the user's line
sys.stdout.write(json.dumps(fdscope.origins.report().json()))
"""


def test_requests_side_by_side_in_one_folder(tmp_path: Path, server: str) -> None:
    # The layout `pip install --target` makes: each distribution's files and its
    # *.dist-info, copied here file by file from the venv's installed copies.
    import importlib.metadata
    import shutil

    task = tmp_path / "task"
    task.mkdir()
    for name in ("requests", "urllib3", "idna", "certifi", "charset-normalizer"):
        dist = importlib.metadata.distribution(name)
        for rel in dist.files or ():
            if str(rel).startswith("..") or "__pycache__" in str(rel):
                continue
            src = Path(str(dist.locate_file(rel)))
            if src.is_file():
                (task / str(rel)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, task / str(rel))
    assert any(task.glob("requests-*.dist-info/RECORD"))
    (task / "app.py").write_text(REQUESTS_APP)
    env = {"PATH": "/usr/bin:/bin", "FDSCOPE_TRACK": "1", "PYTHONPATH": f"{task}:{SRC}"}
    out = subprocess.run(
        [sys.executable, "-S", str(task / "app.py"), server, str(task)],
        cwd=task, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tcp = [g for g in doc["groups"] if g["kind"] == "tcp"]
    assert len(tcp) == 1, doc["groups"]
    site = tcp[0]["site"]
    assert (site["file"], site["line"]) == (str(task / "app.py"), 7)
    assert site["call"] == "requests.Session.get"
    assert tcp[0]["stack"][0]["file"].startswith(str(task / "requests"))
