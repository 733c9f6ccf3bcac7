"""The local Lambda's sandbox (issue 15 item 3): one test per protection.

No test sends a packet to a non-loopback address: the handler first checks that
its network namespace has only ``lo`` and no route at all, and only then makes the
calls that the kernel refuses (ENETUNREACH) before anything is sent.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from fdscope.local import LocalLambda, _procs
from tests.helpers.local_lambda import assert_nothing_left

APP = textwrap.dedent(
    '''
    import errno, json, os, resource, socket, subprocess, sys, time, urllib.request

    def daemon(event, context):
        """setsid, fork twice, clear the environment: a daemon that wants to outlive us."""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.environ.clear()
                os.execv(sys.executable, [sys.executable, "-c",
                         "import time; time.sleep(600)", event["token"]])
            os._exit(0)
        os.wait()
        return "started"

    def isolation(event, context):
        nets = sorted(os.listdir("/sys/class/net"))
        routes = open("/proc/net/route").read().splitlines()[1:]
        routes6 = [r for r in open("/proc/net/ipv6_route").read().splitlines()
                   if not r.split()[-1] == "lo"]
        out = {"interfaces": nets, "routes": routes, "routes6": routes6}
        if nets != ["lo"] or routes or routes6:
            return out  # never try to send anything where a route exists
        def err(fn):
            try:
                fn()
                return "sent"
            except OSError as exc:
                return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else repr(exc)
        def udp():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"x", ("192.0.2.1", 9))
        def tfo():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.sendto(b"x", socket.MSG_FASTOPEN, ("192.0.2.1", 9))
        def dns():
            socket.getaddrinfo("example.com", 80)
        out["udp"] = err(udp)
        out["tfo"] = err(tfo)
        out["dns"] = "refused" if err(dns) != "sent" else "resolved"
        child = subprocess.run([sys.executable, "-c",
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\\n"
            "try:\\n s.sendto(b'x', ('192.0.2.1', 9)); print('sent')\\n"
            "except OSError as e: print(e.errno)"], capture_output=True, text=True)
        out["child"] = child.stdout.strip()
        return out

    def reach(event, context):
        api = os.environ["AWS_LAMBDA_RUNTIME_API"]
        try:
            urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/nope", timeout=5)
            api_status = 200
        except urllib.error.HTTPError as exc:
            api_status = exc.code
        body = urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"], timeout=5).read()
        return {"api": api_status, "endpoint": body.decode()}

    def write_code_root(event, context):
        out = {}
        try:
            with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w") as fh:
                fh.write("x")
            out["write"] = "written"
        except OSError as exc:
            out["write"] = errno.errorcode.get(exc.errno)
        try:
            os.chmod(__file__, 0o777)
            out["chmod"] = "changed"
        except OSError as exc:
            out["chmod"] = errno.errorcode.get(exc.errno)
        if event.get("raise"):
            open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "cache.db"), "w")
        return out

    def tmp(event, context):
        path = "/tmp/" + event["name"]
        with open(path, "w") as fh:
            fh.write("inside")
        return {"exists": os.path.exists(path), "tmpdir": os.environ.get("TMPDIR")}

    def rlimit(event, context):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1, hard + 1))
            raised = "raised"
        except (ValueError, OSError) as exc:
            raised = type(exc).__name__
        return {"limit": [soft, hard], "raised": raised, "uid": os.getuid()}
    '''
)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


def _run_json(fn: LocalLambda) -> dict[str, Any]:
    return json.loads((fn.out_dir / "run.json").read_text())


def _with_arg(token: str) -> list[int]:
    """Host pids whose command line holds ``token``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                if token.encode() in fh.read() and _procs._alive(int(name)):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _gone(token: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _with_arg(token):
            return True
        time.sleep(0.05)
    return False


def test_sandbox_holds_every_protection_here(code: Path, tmp_path: Path) -> None:
    """As root on this machine every protection is had (run.json says which)."""
    with LocalLambda("app.rlimit", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke().status == "ok"
    sandbox = _run_json(fn)["sandbox"]
    assert sandbox["pid_namespace"] is True
    assert sandbox["network"] == "namespace"
    assert sandbox["code_root"] == "read-only"
    assert sandbox["tmp"] == "private"
    assert sandbox["privileges"] == "dropped"
    assert sandbox["notes"] == []


def test_daemon_that_setsids_forks_twice_and_clears_its_env_is_gone(
    code: Path, tmp_path: Path
) -> None:
    token = f"fdscope-daemon-{uuid.uuid4().hex}"
    with LocalLambda("app.daemon", code_root=code, out_dir=tmp_path / "run") as fn:
        s = fn.invoke({"token": token})
        assert s.status == "ok"
        deadline = time.monotonic() + 10
        while not _with_arg(token) and time.monotonic() < deadline:
            time.sleep(0.02)
        (daemon,) = _with_arg(token)
        assert daemon != s.pid and _procs._alive(s.pid)  # host pids: the user's view
    assert _gone(token, 5.0)
    assert_nothing_left(fn)


def test_daemon_is_gone_without_a_pid_namespace_too(
    code: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback: the launcher's init is a subreaper and kills what came to it."""
    monkeypatch.setenv("FDSCOPE_SANDBOX", "no-pid")
    token = f"fdscope-daemon-{uuid.uuid4().hex}"
    with LocalLambda("app.daemon", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke({"token": token}).status == "ok"
        deadline = time.monotonic() + 10
        while not _with_arg(token) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _with_arg(token)
    assert _gone(token, 5.0)
    assert _run_json(fn)["sandbox"]["pid_namespace"] is False


SIGKILLED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from fdscope.local import LocalLambda
    fn = LocalLambda("app.daemon", code_root=Path(sys.argv[1]), out_dir=Path(sys.argv[2]))
    fn.open()
    s = fn.invoke({"token": sys.argv[3]})
    print(s.status, s.pid, flush=True)
    time.sleep(600)
    """
)


def test_daemon_is_gone_when_fdscope_is_sigkilled(code: Path, tmp_path: Path) -> None:
    token = f"fdscope-daemon-{uuid.uuid4().hex}"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGKILLED, str(code), str(tmp_path / "run"), token],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(root),
    )
    try:
        assert proc.stdout is not None
        status, pid = proc.stdout.readline().split()
        assert status == "ok"
        deadline = time.monotonic() + 10
        while not _with_arg(token) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _with_arg(token) and _procs._alive(int(pid))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _gone(token, 10.0)
    deadline = time.monotonic() + 10
    while _procs._alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _procs._alive(int(pid))  # the runtime too


def test_only_loopback_and_refused_before_any_packet(code: Path, tmp_path: Path) -> None:
    with LocalLambda("app.isolation", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke().status == "ok"
        got = json.loads(fn.last_response or b"{}")
    assert got["interfaces"] == ["lo"]
    assert got["routes"] == [] and got["routes6"] == []
    assert got["udp"] == "ENETUNREACH"
    assert got["tfo"] == "ENETUNREACH"
    assert got["dns"] == "refused"
    assert got["child"] == "101"  # ENETUNREACH in a child process too
    assert_nothing_left(fn)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_runtime_api_and_a_host_loopback_endpoint_are_reachable(
    code: Path, tmp_path: Path, host: str
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://{host}:{server.server_address[1]}"
    try:
        with LocalLambda(
            "app.reach", code_root=code, out_dir=tmp_path / "run", aws_endpoint=endpoint
        ) as fn:
            assert fn.invoke().status == "ok"
            got = json.loads(fn.last_response or b"{}")
    finally:
        server.shutdown()
        server.server_close()
    assert got == {"api": 404, "endpoint": "hello from the host"}
    assert _run_json(fn)["sandbox"]["network"] == "namespace"
    assert_nothing_left(fn)


def test_code_root_is_read_only_as_var_task(code: Path, tmp_path: Path) -> None:
    with LocalLambda("app.write_code_root", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke({}).status == "ok"
        got = json.loads(fn.last_response or b"{}")
        failed = fn.invoke({"raise": True})
    assert got == {"write": "EROFS", "chmod": "EROFS"}  # root's chmod does not help
    assert not (code / "new.txt").exists()
    assert failed.status == "error" and "Read-only file system" in (failed.error_message or "")
    from fdscope.local._sandbox import lambda_differences

    (line,) = lambda_differences([failed], str(code))
    assert "code root" in line and "/var/task" in line
    assert_nothing_left(fn)


def test_invoke_names_the_read_only_code_root_as_a_lambda_difference(
    code: Path, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"raise": true}')
    res = subprocess.run(
        [sys.executable, "-m", "fdscope", "invoke", f"{code / 'app.py'}:write_code_root"]
        + ["-n", "1", "--out", str(tmp_path / "run"), "--event", str(event)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "Lambda difference" in res.stdout + res.stderr
    assert "/var/task" in res.stdout + res.stderr


def test_tmp_is_the_environments_own(code: Path, tmp_path: Path) -> None:
    name = f"fdscope-sandbox-{uuid.uuid4().hex}"
    with LocalLambda("app.tmp", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke({"name": name}).status == "ok"
        got = json.loads(fn.last_response or b"{}")
        inside = Path(fn.history[0].tmp) / name
        assert got["exists"] and inside.read_text() == "inside"
        assert not Path("/tmp", name).exists()  # the machine's /tmp is untouched
    assert not inside.exists()
    assert_nothing_left(fn)


def test_descriptor_limit_cannot_be_raised(code: Path, tmp_path: Path) -> None:
    with LocalLambda("app.rlimit", code_root=code, out_dir=tmp_path / "run", fd_limit=512) as fn:
        assert fn.invoke().status == "ok"
        got = json.loads(fn.last_response or b"{}")
    assert got["limit"] == [512, 512]
    assert got["raised"] in ("ValueError", "PermissionError")
    assert got["uid"] != 0  # no root inside
    assert_nothing_left(fn)


def test_fallbacks_are_said(code: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the namespaces the run says what it lacks (here turned off on purpose)."""
    monkeypatch.setenv("FDSCOPE_SANDBOX", "no-net,no-mount,no-user")
    with LocalLambda("app.rlimit", code_root=code, out_dir=tmp_path / "run") as fn:
        assert fn.invoke().status == "ok"
        got = json.loads(fn.last_response or b"{}")
    sandbox = _run_json(fn)["sandbox"]
    assert sandbox["network"] == "audit-hook"
    assert sandbox["code_root"] == "writable" and sandbox["tmp"] == "shared"
    assert sandbox["privileges"] == "root" and got["uid"] == 0
    from fdscope.local._sandbox import describe

    said = describe(sandbox)
    assert any("network namespace" in s for s in said)
    assert any("code root is writable" in s for s in said)


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None and not os.environ.get("CI"), reason="node is not installed")
def test_node_handler_is_sandboxed_too(tmp_path: Path) -> None:
    root = tmp_path / "node"
    root.mkdir()
    (root / "app.js").write_text(
        textwrap.dedent(
            """
            const fs = require("fs");
            const dgram = require("dgram");
            exports.handler = async () => {
              const nets = fs.readdirSync("/sys/class/net").sort();
              const routes = fs.readFileSync("/proc/net/route", "utf8").trim().split("\\n").slice(1);
              const out = { nets, routes };
              if (nets.join() !== "lo" || routes.length) return out;
              out.udp = await new Promise((resolve) => {
                const s = dgram.createSocket("udp4");
                s.send("x", 9, "192.0.2.1", (err) => { s.close(); resolve(err ? err.code : "sent"); });
              });
              try { fs.writeFileSync(__dirname + "/x.txt", "x"); out.write = "written"; }
              catch (err) { out.write = err.code; }
              return out;
            };
            """
        )
    )
    with LocalLambda(
        f"{root / 'app.js'}:handler", out_dir=tmp_path / "run", node_client="standin"
    ) as fn:
        assert fn.invoke().status == "ok"
        got = json.loads(fn.last_response or b"{}")
    assert got == {"nets": ["lo"], "routes": [], "udp": "ENETUNREACH", "write": "EROFS"}
    assert _run_json(fn)["sandbox"]["network"] == "namespace"
    assert_nothing_left(fn)


def test_output_flood_is_capped_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """events.jsonl stops at the cap (FDSCOPE_LOG_CAP; 128 MiB by default); run.json and
    the invoke command say so."""
    cap = 1 << 20
    monkeypatch.setenv("FDSCOPE_LOG_CAP", str(cap))
    root = tmp_path / "flood"
    root.mkdir()
    (root / "app.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    for i in range(60000):\n"
        "        print('flood line', i, 'x' * 80)\n"
        "    return 'done'\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "fdscope", "invoke", f"{root / 'app.py'}:handler"]
        + ["-n", "3", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    size = (tmp_path / "run" / "events.jsonl").stat().st_size
    assert size <= cap + 16384  # the cap, plus Lambda's own lines after it
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["logs"]["capped"] is True and run["logs"]["dropped_events"] > 100000
    text = (tmp_path / "run" / "events.jsonl").read_text()
    assert "reached its cap" in text and text.count("REPORT RequestId") == 3
    assert "events.jsonl stopped at" in res.stdout + res.stderr
