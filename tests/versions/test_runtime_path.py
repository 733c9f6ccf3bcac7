"""The runtime path under every Lambda Python (3.10-3.13), each through its own interpreter.

Per version: the local Lambda (``--python``: a venv of that CPython with the real
awslambdaric) runs an unchanged leaky handler with the layer's exec wrapper
(``--layer``, ``AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper``) and origins
tracking until a real EMFILE: one EMF record per invocation, the leak warning with
the user's line, the EMFILE report, all from that version's byte code in the layer
(PYTHONVERBOSE). Then, in that interpreter from the layer: the handle inventory
against lsof on one process, and EMF and the trend round trip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from fdscope import local
from fdscope.emf import ParseStats, parse_events, parse_message
from fdscope.logs import read_events
from fdscope.trend import analyze

ROOT = Path(__file__).resolve().parents[2]
LEAKY = ROOT / "examples" / "mkstemp_leak"  # tempfile.mkstemp per call, never closed (app.py:8)


def _tag(version: str) -> str:
    return "cpython-" + version.replace(".", "")


def test_the_environment_is_that_python_with_its_own_runtime_client(
    version: str, python: str
) -> None:
    code = (
        "import sys, runtime_client, awslambdaric;"
        "print('%d.%d' % sys.version_info[:2], sys.implementation.cache_tag,"
        " runtime_client.__file__)"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got, tag, client = out.stdout.split()
    assert (got, tag) == (version, _tag(version))
    assert client.endswith(".so") and f"{tag}-" in client  # native, built for this CPython


def test_layer_carries_byte_code_for_the_version(
    version: str, python: str, layer: tuple[Path, dict[str, str]]
) -> None:
    opt, compiled = layer
    assert version in compiled, compiled
    monitor = opt / "python" / "fdscope" / "monitor" / "__pycache__"
    assert (monitor / f"_monitor.{_tag(version)}.pyc").is_file()
    # every runtime module imports on this version, from its own byte code
    code = (
        "import sys, pkgutil, importlib; sys.path.insert(0, sys.argv[1]); import fdscope;"
        "names = [m.name for m in pkgutil.walk_packages(fdscope.__path__, 'fdscope.')];"
        "[importlib.import_module(n) for n in names if not n.endswith(('_pull', '_psutil', '.entry', '__main__'))];"
        "print(len(names))"
    )
    res = subprocess.run(
        [python, "-S", "-c", code, str(opt / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONVERBOSE": "1", "PATH": "/usr/bin:/bin"},
    )
    errors = [line for line in res.stderr.splitlines() if not line.startswith(("#", "import "))]
    assert res.returncode == 0, "\n".join(errors[-20:])
    assert int(res.stdout) > 20
    layer_python = str((opt / "python").resolve())
    loaded = re.findall(r"^# code object from '?([^'\s]+)", res.stderr, re.M)
    ours = [p for p in loaded if p.startswith(layer_python)]
    assert len(ours) > 20
    assert all(p.endswith(f".{_tag(version)}.pyc") for p in ours), [
        p for p in ours if not p.endswith(".pyc")
    ][:5]


def test_exec_wrapper_monitor_origins_and_real_emfile(
    version: str, python: str, layer: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    opt, _ = layer
    out = tmp_path / "run"
    samples = []
    with local.LocalLambda(
        "app.handler",  # unchanged: the wrapper brings the monitor
        code_root=LEAKY,
        out_dir=out,
        python=python,
        layers=[opt],
        fd_limit=32,
        track_origins=True,
        sample="count",
        env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/fdscope-wrapper", "PYTHONVERBOSE": "1"},
    ) as fn:
        for _ in range(40):  # bounded: one descriptor leaks per call, the limit is 32
            s = fn.invoke({})
            samples.append(s)
            if s.error_type == "OSError":  # the handler itself hit EMFILE
                break
    run = json.loads((out / "run.json").read_text())
    runtime = json.dumps(run)
    assert f'"python": "{version}"' in runtime and '"runtime_client": "own"' in runtime
    assert samples[-1].error_type == "OSError", [(s.status, s.fd_count) for s in samples]

    events = list(read_events(out))
    messages = [e.message for e in events]
    stats = ParseStats()
    list(parse_events(events, stats))
    records = [json.loads(m) for m in messages if m.startswith("{") and '"_aws"' in m]
    assert stats.records == len(samples) == len(records) and stats.emf_validation_errors == 0
    assert [r["request_id"] for r in records] == [s.request_id for s in samples]
    assert [r["invocation"] for r in records] == list(range(1, len(samples) + 1))

    logs = [json.loads(m) for m in messages if m.startswith('{"level"')]
    warnings = [x for x in logs if x.get("event") == "fd_leak_warning"]
    reports = [x for x in logs if x.get("event") == "emfile"]
    assert len(warnings) == 1 and len(reports) == 1, [x.get("event") for x in logs]
    assert any(site["site"].endswith("app.py:8") for site in warnings[0]["sites"])
    assert warnings[0]["invocation"] < reports[0]["invocation"] <= len(samples)
    assert reports[0]["fd_max"] == 32 and any(
        site["site"].endswith("app.py:8") for site in reports[0]["sites"]
    )
    assert records[-1].get("emfile") is True

    # every fdscope module the function ran came from the layer, this version's byte code
    loaded = re.findall(r"code object from '?([^'\s]*/fdscope/[^'\s]*)", "\n".join(messages))
    assert any("/monitor/__pycache__/entry." in p for p in loaded), loaded[:5]
    layer_python = str((opt / "python").resolve())
    assert loaded and all(
        p.startswith(layer_python) and p.endswith(f".{_tag(version)}.pyc") for p in loaded
    ), loaded


HOLDER = r"""
import json, os, socket, sys, tempfile
sys.path.insert(0, sys.argv[1])
from fdscope import handles
keep = [open(sys.argv[2], "w"), os.pipe(), socket.socketpair()]
srv = socket.create_server(("127.0.0.1", 0))
cli = socket.create_connection(srv.getsockname())
peer, _ = srv.accept()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
keep += [srv, cli, peer, udp, os.open(tempfile.gettempdir(), os.O_RDONLY)]
snap = handles.snapshot()
print(json.dumps({"pid": os.getpid(), "handles": [
    {"fd": h.fd, "kind": h.kind, "path": h.path, "inode": h.inode, "deleted": h.deleted} for h in snap.handles]}))
sys.stdout.flush()
sys.stdin.readline()
"""


def _lsof(pid: int) -> dict[int, dict[str, str]]:
    exe = shutil.which("lsof")
    assert exe, "lsof is needed (CI installs it)"
    out = subprocess.run(
        [exe, "-p", str(pid), "-n", "-P", "-w", "-F", "ftind"], capture_output=True, text=True
    ).stdout
    rows: dict[int, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in out.splitlines():
        tag, value = line[:1], line[1:]
        if tag == "f":
            cur = rows.setdefault(int(value), {}) if value.isdigit() else None
        elif cur is not None and tag in "tind":
            cur[tag] = value
    return rows


def test_handles_snapshot_agrees_with_lsof(
    version: str, python: str, layer: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    opt, _ = layer
    proc = subprocess.Popen(
        [python, "-S", "-c", HOLDER, str(opt / "python"), str(tmp_path / "held.txt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        snap = json.loads(proc.stdout.readline())
        theirs = _lsof(snap["pid"])
        proc.stdin.write("\n")
        proc.stdin.flush()
    finally:
        proc.wait(timeout=30)
    ours = {h["fd"]: h for h in snap["handles"]}
    theirs.pop(max(theirs), None) if len(theirs) > len(ours) else None  # the snapshot's own
    assert set(ours) <= set(theirs) and len(set(theirs) - set(ours)) <= 1, (ours, theirs)
    kinds = {h["kind"] for h in ours.values()}
    assert {"file", "pipe", "unix", "tcp", "udp", "dir"} <= kinds, kinds
    for fd, h in ours.items():
        row = theirs[fd]
        if h["kind"] in ("file", "dir"):
            assert row["n"] == h["path"] + (" (deleted)" if h["deleted"] else ""), (fd, row, h)
        if h["kind"] in ("tcp", "udp"):
            assert int(row["d"]) == h["inode"], (fd, row, h)
        elif h["inode"] and row.get("i"):
            assert int(row["i"]) == h["inode"], (fd, row, h)


ROUND_TRIP = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from fdscope.emf import Metric, Record, dumps
from fdscope.trend import analyze
counts = [20 + i + (i % 3 == 0) for i in range(40)]
t = analyze(counts)
rec = Record("Fdscope", [Metric("fd_use", counts[-1], "Count"), Metric("rate", t.rate)],
             dimensions={"function_name": "f"}, properties={"shape": t.shape},
             timestamp=int(time.time() * 1000))
print(json.dumps({"lines": dumps(rec), "trend": [t.rate, t.shape, t.significant,
                  t.invocations_to_limit(1024)]}))
"""


def test_emf_and_trend_round_trip(
    version: str, python: str, layer: tuple[Path, dict[str, str]]
) -> None:
    opt, _ = layer
    res = subprocess.run(
        [python, "-S", "-c", ROUND_TRIP, str(opt / "python")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    counts = [20 + i + (i % 3 == 0) for i in range(40)]
    mine = analyze(counts)  # the same numbers on this interpreter
    assert got["trend"] == [
        mine.rate,
        mine.shape,
        mine.significant,
        mine.invocations_to_limit(1024),
    ]
    assert mine.leaking
    stats = ParseStats()
    points = [p for line in got["lines"] for p in parse_message(line, stats=stats)]
    assert stats.emf_validation_errors == 0
    values = {p.metric: p.value for p in points}
    assert values == {"fd_use": counts[-1], "rate": mine.rate}
