"""Reports that come by themselves: EMFILE (real exhaustion), early warning, signal, exit,
``FDSCOPE_REPORT_FD``. Each runs a real child Python so limits and handlers stay there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from origins_helpers import line_of

from fdscope import origins

SRC = str(Path(__file__).resolve().parents[2] / "src")

EXHAUST = """\
import os, resource, signal, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))  # soft == hard
import fdscope.origins as origins
origins.track(signal="USR1")
assert origins.is_tracking()
socks = []


def leak():
    while True:
        socks.append(socket.socket())  # leak


try:
    leak()
except OSError as exc:
    assert exc.errno == 24, exc
    assert origins.send_report(invocation=1)  # at EMFILE, no descriptor free
    os.kill(os.getpid(), signal.SIGUSR1)  # the signal's report, also at EMFILE
    try:
        socket.socket()
    except OSError as again:
        assert again.errno == 24  # still exhausted: the report did not free one
leak()  # uncaught: the excepthook reports
"""


def _run(
    script: str, tmp_path: Path, env_extra: dict[str, str], pass_fd: bool = True
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    path = tmp_path / "app.py"
    path.write_text(script)
    r, w = os.pipe()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": SRC, **env_extra}
    if pass_fd:
        env["FDSCOPE_REPORT_FD"] = str(w)
    try:
        out = subprocess.run(
            [sys.executable, str(path)],
            env=env,
            pass_fds=(w,) if pass_fd else (),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as pipe:
        lines = [json.loads(line) for line in pipe.read().splitlines()]
    return out, lines


def test_emfile_real_exhaustion_reports_through_report_fd_and_excepthook(tmp_path: Path) -> None:
    out, docs = _run(EXHAUST, tmp_path, {})
    leak_line = line_of(tmp_path / "app.py", "leak")
    assert out.returncode == 1  # the uncaught EMFILE
    assert "Too many open files" in out.stderr
    assert len(docs) == 2, out.stderr
    first, second = docs
    assert first["schema"] == "fdscope.origins/1" and first["invocation"] == 1
    assert first["limit"] == {"soft": 64, "hard": 64}
    assert first["count"] == 64
    top = first["groups"][0]
    assert (top["site"]["file"], top["site"]["line"]) == (str(tmp_path / "app.py"), leak_line)
    assert top["site"]["function"] == "leak" and top["count"] >= 50
    assert second.get("trigger") == "emfile" and second["groups"][0]["site"]["line"] == leak_line
    # the text report of the excepthook went to stderr, and the early warning before it
    assert f"app.py:{leak_line} in leak" in out.stderr
    assert "EMFILE in an uncaught exception" in out.stderr
    signal_report = out.stderr.split("report on signal", 1)[1]
    assert f"app.py:{leak_line} in leak" in signal_report.split("EMFILE in an uncaught")[0]
    warn = out.stderr.index("warning:")
    assert warn < out.stderr.index("EMFILE in an uncaught exception")
    assert "of the soft limit" in out.stderr


SIGNAL = """\
import os, signal, sys, time
import fdscope.origins as origins
origins.track(at_exit=True)
f = open(os.devnull)  # opened
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.05)
sys.stderr.write("---after-signal---\\n")
"""


def test_signal_and_at_exit_reports_go_to_stderr(tmp_path: Path) -> None:
    out, docs = _run(SIGNAL, tmp_path, {})
    line = line_of(tmp_path / "app.py", "opened")
    assert out.returncode == 0, out.stderr
    before, _, after = out.stderr.partition("---after-signal---")
    assert f"report on signal {int(signal.SIGUSR1)}" in before
    assert f"app.py:{line} in <module> via open" in before
    assert "report at exit" in after and f"app.py:{line}" in after
    assert [d.get("trigger") for d in docs] == ["exit"]


ENV_ONLY = """\
import os
import fdscope.origins as origins  # FDSCOPE_TRACK=1 starts tracking here
assert origins.is_tracking()
r, w = os.pipe()  # pipe_line
for i in range(3):
    origins.send_report(invocation=i)
"""


def test_env_starts_tracking_and_send_report_writes_one_line_each(tmp_path: Path) -> None:
    out, docs = _run(ENV_ONLY, tmp_path, {"FDSCOPE_TRACK": "1", "FDSCOPE_SIGNAL": "0"})
    assert out.returncode == 0, out.stderr
    assert [d["invocation"] for d in docs] == [0, 1, 2]
    line = line_of(tmp_path / "app.py", "pipe_line")
    for doc in docs:
        (pipe,) = [g for g in doc["groups"] if g["kind"] == "pipe"]
        assert pipe["site"]["line"] == line and pipe["count"] == 2
        assert pipe["site"]["call"] == "os.pipe"
        assert len(pipe["handles"]) == 2


def test_send_report_without_the_variable_returns_false(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import fdscope.origins as origins
        origins.track(signal=None)
        print(origins.send_report())
        """
    )
    out, docs = _run(script, tmp_path, {}, pass_fd=False)
    assert out.stdout.strip() == "False" and docs == []


def test_import_installs_nothing_until_track(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import builtins, os, socket, sys
        before = (builtins.open, os.open, os.pipe, socket.socket.__init__)
        import fdscope.origins as origins
        assert (builtins.open, os.open, os.pipe, socket.socket.__init__) == before
        assert not origins.is_tracking()
        heavy = {"json", "subprocess", "sqlite3", "asyncio", "fdscope.handles"} & set(sys.modules)
        print(sorted(heavy))
        """
    )
    out, _ = _run(script, tmp_path, {}, pass_fd=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_report_every_n_invocations_and_always_near_the_limit(
    tracking: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource

    from fdscope import handles

    r, w = os.pipe()
    try:
        monkeypatch.setenv("FDSCOPE_REPORT_FD", str(w))
        monkeypatch.setenv("FDSCOPE_REPORT_EVERY", "5")
        sent = [i for i in range(1, 13) if origins.send_report(invocation=i)]
        assert sent == [1, 2, 5, 10]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (handles.count() + 1, hard))
        try:
            assert origins.send_report(invocation=13)  # near the limit: every invocation
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        os.close(w)
        w = -1
        lines = b""
        while chunk := os.read(r, 1 << 16):
            lines += chunk
        assert [json.loads(x)["invocation"] for x in lines.splitlines()] == [1, 2, 5, 10, 13]
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
