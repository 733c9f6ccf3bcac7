"""The Node.js preload (``track.js``): real node processes, loopback only.

Each script marks its lines with ``// L:<name>`` comments; the tests assert
the report names those lines (the user's file, never node_modules'), that
the descriptors it lists are the ones the outside inventory sees, and that
the preload fails open.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from fdscope import handles
from fdscope.origins import node as node_origins

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

FAKELIB = """\
const net = require('net');
exports.serve = function serve(cb) {
  const server = net.createServer((s) => {});
  server.listen(0, '127.0.0.1', cb);
  return server;
};
"""


def line(path: Path, name: str) -> int:
    hits = [
        n
        for n, text in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"// L:" + re.escape(name) + r"(\s|$)", text)
    ]
    assert len(hits) == 1, (name, hits)
    return hits[0]


def write_app(tmp_path: Path, body: str) -> Path:
    lib = tmp_path / "node_modules" / "fakelib"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "index.js").write_text(FAKELIB)
    app = tmp_path / "app.js"
    app.write_text(textwrap.dedent(body))
    return app


class Node:
    """A node process with the preload, its reports read from FDSCOPE_REPORT_FD."""

    def __init__(
        self, app: Path, env: dict[str, str] | None = None, limit: int | None = None
    ) -> None:
        self.r, w = os.pipe()
        full = dict(os.environ)
        full.pop("NODE_OPTIONS", None)
        full.update({"FDSCOPE_REPORT_FD": str(w), "FDSCOPE_SIGNAL": "0"})
        full.update(env or {})

        def limits() -> None:
            if limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen(
            [NODE or "node", "--require", node_origins.PRELOAD, str(app)],
            cwd=str(app.parent),
            env=full,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(w,),
            preexec_fn=limits,
        )
        os.close(w)
        self.buf = b""

    def wait_line(self, want: str, timeout: float = 20.0) -> str:
        """The first stdout line starting with ``want``."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.proc.stdout.readline().decode()
            if not text:
                break
            if text.startswith(want):
                return text.strip()
        raise AssertionError(f"no {want!r} line; stderr: {self.stderr()}")

    def reports(self, n: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Read until ``n`` report lines arrived."""
        os.set_blocking(self.r, False)
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n and time.monotonic() < deadline:
            try:
                chunk = os.read(self.r, 1 << 20)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                break
            self.buf += chunk
        return [json.loads(x) for x in self.buf.splitlines() if x.strip()]

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        os.close(self.r)


LEAKY = """\
const net = require('net');
const fs = require('fs');
const cp = require('child_process');
const fakelib = require('fakelib');
const T = globalThis[Symbol.for('fdscope.origins')];
const keep = [];
function handler(done) {
  const server = net.createServer(() => {});
  server.listen(0, '127.0.0.1', () => { // L:listen
    keep.push(net.connect(server.address().port, '127.0.0.1', done)); // L:connect
  });
  keep.push(server);
}
let calls = 0;
function next() {
  if (calls++ < 3) return handler(next);
  fs.openSync(__filename, 'r'); // L:openSync
  fs.open(__filename, 'r', (err, fd) => { // L:open
    const child = cp.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']); // L:spawn
    keep.push(child);
    setTimeout(() => {}, 600000); // L:timer
    keep.push(fakelib.serve(() => { // L:fakelib
      T.send('test');
      console.log('ready ' + child.pid);
    }));
  });
}
next();
process.stdin.on('data', () => process.exit(0));
"""


@pytest.fixture
def leaky(tmp_path: Path) -> Any:
    app = write_app(tmp_path, LEAKY)
    node = Node(app)
    ready = node.wait_line("ready")
    child = int(ready.split()[1])
    (doc,) = node.reports(1)
    yield app, node, doc
    try:
        os.kill(child, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.close()


def _groups(doc: dict[str, Any], app: Path, name: str) -> list[dict[str, Any]]:
    n = line(app, name)
    return [g for g in doc["groups"] if g["site"]["file"] == str(app) and g["site"]["line"] == n]


def test_report_shape(leaky: Any) -> None:
    _app, _node, doc = leaky
    assert doc["schema"] == "fdscope.origins/1"
    assert doc["trigger"] == "test"
    assert doc["runtime"] == "node"
    assert set(doc["limit"]) == {"soft", "hard"}
    assert doc["count"] >= sum(
        1 for g in doc["groups"] for h in g["handles"] if h["fd"] is not None
    )
    for g in doc["groups"]:
        assert set(g) >= {"site", "stack", "kind", "endpoint", "count", "handles", "chain"}
        assert g["count"] == len(g["handles"])
        assert "node_modules" not in g["site"]["file"]
        assert not g["site"]["file"].startswith("node:")


def test_server_per_call_and_its_connections_name_the_user_line(leaky: Any) -> None:
    app, _node, doc = leaky
    at_listen = _groups(doc, app, "listen")
    listening = [g for g in at_listen if all("LISTEN" in h["detail"] for h in g["handles"])]
    accepted = [g for g in at_listen if g["async_parent"] == "TCPSERVERWRAP"]
    assert [g["count"] for g in listening] == [3], at_listen
    assert listening[0]["site"]["function"] == "handler"
    assert listening[0]["chain"] == ["Server.listen"]
    # the connections the kernel handed the servers: through the trigger chain, same line
    assert [g["count"] for g in accepted] == [3], at_listen
    assert all("LISTEN" not in h["detail"] for h in accepted[0]["handles"])
    (client,) = _groups(doc, app, "connect")
    assert client["count"] == 3 and client["kind"] == "tcp"
    assert all("-> 127.0.0.1:" in h["detail"] for h in client["handles"])


def test_files_child_and_library_server(leaky: Any) -> None:
    app, _node, doc = leaky
    (opened_sync,) = _groups(doc, app, "openSync")
    (opened,) = _groups(doc, app, "open")
    for g in (opened_sync, opened):
        assert g["kind"] == "file" and g["count"] == 1
        assert g["handles"][0]["detail"].endswith(str(app))
    spawned = _groups(doc, app, "spawn")
    kinds = {g["kind"]: g for g in spawned}
    assert kinds["process"]["count"] == 1 and kinds["process"]["handles"][0]["fd"] is None
    assert kinds["unix"]["count"] == 3  # the child's stdio: libuv's socketpairs
    # a server the library made for the user: the user's line, the library in the chain
    (lib,) = _groups(doc, app, "fakelib")
    assert lib["kind"] == "tcp" and lib["count"] == 1
    assert lib["chain"] == ["fakelib serve", "Server.listen"]
    assert lib["site"]["call"] == "fakelib serve"


def test_timer_keeps_the_loop_alive(leaky: Any) -> None:
    app, _node, doc = leaky
    timers = [x for x in doc["loop"] if x["kind"] == "timer"]
    assert any(t["site"] and t["site"]["line"] == line(app, "timer") for t in timers), timers
    alive_fds = {x["fd"] for x in doc["loop"] if x["fd"] is not None}
    listening = [
        h["fd"]
        for g in _groups(doc, app, "listen")
        for h in g["handles"]
        if "LISTEN" in h["detail"]
    ]
    assert set(listening) <= alive_fds


def test_fds_match_the_outside_inventory(leaky: Any) -> None:
    _app, node, doc = leaky
    snap = handles.snapshot(node.proc.pid)
    outside = {h.fd: h for h in snap.handles}
    inside = [h for g in doc["groups"] for h in g["handles"] if h["fd"] is not None]
    inside += [u for u in doc["unattributed"]]
    assert inside
    for h in inside:
        assert h["fd"] in outside, h
        kind = outside[h["fd"]].kind
        if h["kind"] in ("tcp", "tcp6", "unix", "file", "pipe", "chr", "eventpoll", "eventfd"):
            assert h["kind"] == kind, (h, outside[h["fd"]])
    # every descriptor the report counts is one the inventory sees, and none is missing
    assert {h["fd"] for h in inside} == set(outside)
    assert doc["count"] == snap.count


def test_library_connection_made_on_listening_follows_the_trigger_chain(tmp_path: Path) -> None:
    # like serverless-express: the library listens for the user, then connects in a callback
    (tmp_path / "node_modules" / "proxylib").mkdir(parents=True)
    (tmp_path / "node_modules" / "proxylib" / "index.js").write_text(
        textwrap.dedent("""\
        const net = require('net');
        exports.proxy = function proxy(server, cb) {
          server.on('listening', () => {
            const c = net.connect(server.address().port, '127.0.0.1', () => cb(c));
          });
          server.listen(0, '127.0.0.1');
        };
        """)
    )
    app = write_app(
        tmp_path,
        """\
        const net = require('net');
        const { proxy } = require('proxylib');
        const T = globalThis[Symbol.for('fdscope.origins')];
        const server = net.createServer(() => {});
        proxy(server, () => { // L:proxy
          T.send('test');
          console.log('ready');
        });
        process.stdin.on('data', () => process.exit(0));
        """,
    )
    node = Node(app)
    try:
        node.wait_line("ready")
        (doc,) = node.reports(1)
    finally:
        node.close()
    groups = _groups(doc, app, "proxy")
    assert sum(g["count"] for g in groups) == 3, doc["groups"]  # listening, accepted, client
    for g in groups:
        assert g["chain"] == ["proxylib proxy", "Server.listen"]
    assert not [u for u in doc["unattributed"] if "tcp" in u["kind"]]


HTTP_APP = """\
const http = require('http');
const server = http.createServer((req, res) => res.end('hello'));
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      console.log('answer ' + body);
      server.close();
      process.exit(0);
    });
  });
});
"""


@pytest.mark.parametrize(
    "fault",
    [
        "init",  # an exception inside the async_hooks init hook
        "report",  # an exception while building a report
        "start",  # an exception while installing the hooks
    ],
)
def test_fails_open(tmp_path: Path, fault: str) -> None:
    app = write_app(
        tmp_path,
        HTTP_APP.replace(
            "console.log('answer ' + body);",
            "globalThis[Symbol.for('fdscope.origins')].send('test'); console.log('answer ' + body);",
        ),
    )
    node = Node(app, env={"FDSCOPE_NODE_FAULT": fault})
    try:
        assert node.wait_line("answer") == "answer hello"
        assert node.proc.wait(20) == 0
        assert "origins tracking stopped" in node.stderr()
        assert node.reports(1, timeout=2) == []  # no half-written report
    finally:
        node.close()


def test_report_at_emfile(tmp_path: Path) -> None:
    app = write_app(
        tmp_path,
        """\
        const fs = require('fs');
        const held = [];
        for (let i = 0; i < 1000; i++) held.push(fs.openSync(__filename, 'r')); // L:loop
        """,
    )
    node = Node(app, limit=64)
    try:
        assert node.proc.wait(20) != 0
        docs = node.reports(2, timeout=5)
    finally:
        node.close()
    triggers = [d.get("trigger") for d in docs]
    assert "emfile" in triggers, triggers
    doc = docs[triggers.index("emfile")]
    (g,) = _groups(doc, app, "loop")
    assert g["count"] >= 40 and doc["limit"]["soft"] == 64
    assert doc["count"] >= 63


def test_near_limit_and_exit(tmp_path: Path) -> None:
    app = write_app(
        tmp_path,
        """\
        const fs = require('fs');
        for (let i = 0; i < 40; i++) fs.openSync(__filename, 'r'); // L:loop
        setTimeout(() => {}, 100);
        """,
    )
    node = Node(app, limit=64)
    try:
        assert node.proc.wait(20) == 0
        docs = node.reports(2, timeout=5)
        err = node.stderr()
    finally:
        node.close()
    assert [d["trigger"] for d in docs] == ["limit", "exit"]
    assert "over 80% of the soft limit" in err
    assert "report at exit" in err


def test_invocations_seen_through_the_runtime_api(tmp_path: Path) -> None:
    # a stand-in Runtime API on loopback, and a JavaScript client going through http: the
    # preload reports before each response is posted, and before the deadline of one that hangs
    app = write_app(
        tmp_path,
        """\
        const http = require('http');
        const net = require('net');
        let n = 0;
        const api = http.createServer((req, res) => {
          if (req.url.endsWith('/next')) {
            n++;
            const deadline = Date.now() + (n === 3 ? 400 : 60000);
            res.writeHead(200, { 'lambda-runtime-deadline-ms': String(deadline), 'lambda-runtime-aws-request-id': 'r' + n });
            return res.end('{}');
          }
          req.resume();
          req.on('end', () => res.end('{}'));
        });
        const keep = [];
        function call(path, method, cb) {
          const port = api.address().port;
          const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
            res.resume();
            res.on('end', () => cb(res));
          });
          req.end(method === 'POST' ? '{}' : undefined);
        }
        function loop() {
          call('/2018-06-01/runtime/invocation/next', 'GET', () => {
            const s = net.createServer(() => {});
            keep.push(s);
            s.listen(0, '127.0.0.1', () => { // L:leak
              if (n === 3) return; // hangs: the deadline report comes instead
              call('/2018-06-01/runtime/invocation/r' + n + '/response', 'POST', loop);
            });
          });
        }
        api.listen(0, '127.0.0.1', () => {
          process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:' + api.address().port;
          loop();
        });
        setTimeout(() => process.exit(0), 3000);
        """,
    )
    node = Node(app)
    try:
        docs = node.reports(3, timeout=10)
    finally:
        node.close()
    assert [(d.get("invocation"), d.get("trigger")) for d in docs] == [
        (1, None),
        (2, None),
        (3, "timeout"),
    ]
    n = line(app, "leak")
    counts = [sum(g["count"] for g in d["groups"] if g["site"]["line"] == n) for d in docs]
    assert counts == [1, 2, 3]
    # at the deadline: the three servers keep the loop alive, named at the user's line
    alive = [x for x in docs[2]["loop"] if x["site"] and x["site"]["line"] == n]
    assert len(alive) == 3


def test_track_cli_runs_node(tmp_path: Path) -> None:
    app = write_app(
        tmp_path,
        """\
        const fs = require('fs');
        const fds = [];
        for (let i = 0; i < 5; i++) fds.push(fs.openSync(__filename, 'r')); // L:loop
        """,
    )
    env = dict(os.environ)
    env.pop("NODE_OPTIONS", None)
    env["PATH"] = os.path.dirname(NODE or "node") + os.pathsep + env.get("PATH", "")
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "track", "--json", "--", "node", str(app)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["trigger"] == "exit"
    (g,) = _groups(doc, app, "loop")
    assert g["count"] == 5


def test_is_node_and_options() -> None:
    assert node_origins.is_node("/usr/bin/node")
    assert node_origins.is_node("nodejs20")
    assert not node_origins.is_node("python3")
    assert not node_origins.is_node("nodemon")
    opts = node_origins.node_options("--max-old-space-size=100")
    assert opts.startswith('--require "') and opts.endswith(" --max-old-space-size=100")


def test_preload_requires_fast() -> None:
    code = (
        "const t = process.hrtime.bigint();"
        f"require({json.dumps(node_origins.PRELOAD)});"
        "console.log(Number(process.hrtime.bigint() - t) / 1e6);"
    )
    env = dict(os.environ)
    env.pop("FDSCOPE_REPORT_FD", None)
    out = subprocess.run(
        [NODE or "node", "-e", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 100  # milliseconds, generous for a loaded machine


def test_many_handles_made_and_closed(tmp_path: Path) -> None:
    # past the sweep interval (256 tracked handles): the sweep must not touch the handle
    # under construction (it crashed node with SIGSEGV)
    app = write_app(
        tmp_path,
        """\
        const net = require('net');
        let i = 0;
        const one = () => {
          if (i++ === 600) {
            globalThis[Symbol.for('fdscope.origins')].send('test');
            return console.log('ready');
          }
          const s = net.createServer();
          s.listen(0, '127.0.0.1', () => s.close(one));
        };
        one();
        """,
    )
    node = Node(app)
    try:
        assert node.wait_line("ready", timeout=60) == "ready"
        (doc,) = node.reports(1)
        assert node.proc.wait(20) == 0
    finally:
        node.close()
    assert not [g for g in doc["groups"] if g["kind"].startswith("tcp")]


FILEHANDLES = """\
const fs = require('fs');
const v8 = require('v8');
const vm = require('vm');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const log = require('path').join(__dirname, 'audit.log');
const keep = [];
async function handler() {
  const fh = await fs.promises.open(log, 'a'); // L:dropped
  await fh.write('x\\n');
}
async function main() {
  for (let i = 0; i < 100; i++) await handler();
  for (let i = 0; i < 3; i++) keep.push(await fs.promises.open(log, 'r')); // L:kept
  for (let i = 0; i < 3; i++) {
    gc({ type: 'minor' }); // a scavenge, as a function gets between invocations
    await new Promise((r) => setTimeout(r, 20));
  }
  const open = fs.readdirSync('/proc/self/fd').length;
  const T = globalThis[Symbol.for('fdscope.origins')];
  if (T) T.send('test');
  console.log('ready ' + open);
  process.stdin.on('data', () => process.exit(0));
}
main();
"""


def test_filehandles_left_to_the_collector_are_not_kept(tmp_path: Path) -> None:
    # fs.promises FileHandles never closed are closed by the garbage collector; the
    # preload must not keep them alive (its captured stacks held the new handle: 100
    # unclosed handles after gc() left 121 descriptors open, 21 without the preload), not
    # even past a scavenge (a WeakRef to them kept them to the next full collection), and
    # the ones the program keeps are files at the user's line, never "unix <path>"
    app = write_app(tmp_path, FILEHANDLES)
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    plain = subprocess.run(
        [NODE or "node", "--no-warnings", str(app)],
        input="x",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(tmp_path),
    )
    assert plain.returncode == 0, plain.stderr
    without = int(plain.stdout.split()[-1])
    node = Node(app, env={"NODE_NO_WARNINGS": "1"})
    try:
        tracked = int(node.wait_line("ready", timeout=60).split()[1])
        (doc,) = node.reports(1)
    finally:
        node.close()
    # + the report pipe and fdscope's reserved descriptor
    assert tracked <= without + 2, (tracked, without)
    (kept,) = _groups(doc, app, "kept")
    assert kept["kind"] == "file" and kept["count"] == 3
    assert all(h["detail"] == f"file {tmp_path / 'audit.log'}" for h in kept["handles"])
    assert not _groups(doc, app, "dropped")
    assert not [u for u in doc["unattributed"] if "audit.log" in u["detail"]]
