"""``fdscope handles`` and ``fdscope watch`` on real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from click.testing import CliRunner

from fdscope import handles as H
from fdscope.cli import cli
from fdscope.cli.handles import fd_ranges, sparkline


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_table_groups_by_kind_and_endpoint(holder: dict[str, Any]) -> None:
    pid = holder["pid"]
    res = run("handles", str(pid))
    assert res.exit_code == 0
    out = res.output
    assert f"pid {pid}" in out
    snap = H.snapshot(pid)
    for facts in holder["fds"].values():
        if facts.get("state") == "ESTABLISHED":
            assert facts["remote"] in out  # the remote endpoint is a group
        if facts["kind"] == "file":
            assert facts["path"] in out
    assert f"{snap.count} open of {snap.soft_limit} (soft)" in out
    for kind in snap.by_kind():
        assert kind in out


def test_json_is_the_snapshot(holder: dict[str, Any]) -> None:
    res = run("handles", str(holder["pid"]), "--json")
    doc = json.loads(res.output)
    assert doc["schema"] == "fdscope.handles/1" and doc["pid"] == holder["pid"]
    by_fd = {h["fd"]: h for h in doc["handles"]}
    assert doc["count"] == len(doc["handles"]) == H.count(holder["pid"])
    for fd, facts in holder["fds"].items():
        for key, want in facts.items():
            if key != "flags_has":
                assert by_fd[fd][key] == want, (fd, key)


def test_list_and_summary(holder: dict[str, Any]) -> None:
    pid = holder["pid"]
    listing = run("handles", str(pid), "--list").output
    summary = run("handles", str(pid), "--summary").output.strip()
    assert len(summary.splitlines()) == 1
    snap = H.snapshot(pid)
    for kind, n in snap.by_kind().items():
        assert f"{kind} {n}" in summary
    fd_lines = [
        line for line in listing.splitlines() if line.split()[:1] and line.split()[0].isdigit()
    ]
    assert len(fd_lines) == snap.count


def test_tree_covers_children() -> None:
    code = (
        "import os, subprocess, sys\n"
        "kid = subprocess.Popen([sys.executable, '-c', "
        "'import os, sys; fds = [os.open(os.devnull, 0) for _ in range(7)]; print(1, flush=True);"
        " sys.stdin.read()'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "kid.stdout.readline()  # the kid holds its descriptors now\n"
        "print(kid.pid, flush=True); sys.stdin.read(); kid.stdin.close(); kid.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        kid = int(proc.stdout.readline())
        res = run("handles", str(proc.pid), "--tree", "--json")
        doc = json.loads(res.output)
        pids = [p["pid"] for p in doc["processes"]]
        assert pids == [proc.pid, kid]
        assert doc["total"] == H.count(proc.pid, tree=True)
        summary = run("handles", str(proc.pid), "--tree", "--summary").output
        assert f"pid {kid}" in summary and "in 2 processes" in summary
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()


GROWER = textwrap.dedent(
    """
    import os, socket, sys, time
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(100)
    keep = []
    print("ready", flush=True)
    sys.stdin.readline()  # go: watch has shown its first refresh
    for _ in range(int(sys.argv[1])):
        time.sleep(0.03)
        keep.append(socket.create_connection(srv.getsockname()))
    time.sleep(0.5)
    """
)


def test_watch_shows_growth_and_ends_when_the_process_exits() -> None:
    grower = subprocess.Popen(
        [sys.executable, "-c", GROWER, "10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert grower.stdout.readline().strip() == "ready"
        watcher = subprocess.Popen(
            [sys.executable, "-m", "fdscope", "watch", str(grower.pid), "--interval", "0.1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        first = watcher.stdout.readline()
        assert f"pid {grower.pid}:" in first
        grower.stdin.write("go\n")
        grower.stdin.flush()
        rest, _ = watcher.communicate(timeout=60)
    finally:
        grower.stdin.close()
        grower.wait(10)
        grower.stdout.close()
    assert watcher.returncode == 0
    last = rest.strip().splitlines()[-1]
    assert last.startswith(f"process {grower.pid} exited;")
    first = int(last.split("refreshes, ")[1].split()[0])
    peak = int(last.rsplit("peak ", 1)[1])
    assert peak - first == 10  # ten client connections (the listener never accepts them)
    # watch named the growing group: connections to the listener's address
    assert "tcp       127.0.0.1:" in rest and "+10" in rest


def test_watch_stops_after_iterations_and_errors_are_one_line() -> None:
    res = run("watch", str(os.getpid()), "--interval", "0.01", "--iterations", "3", "--plain")
    assert res.exit_code == 0 and "\n3 refreshes" in res.output
    gone = subprocess.run(
        [sys.executable, "-m", "fdscope", "handles", "99999999"], capture_output=True, text=True
    )
    assert gone.returncode == 2
    assert gone.stderr.strip() == "error: process 99999999 is gone"


@pytest.mark.parametrize(
    ("fds", "text"),
    [
        ((3, 4, 5, 7), "3-5,7"),  # a run and a single
        ((9,), "9"),
        ((), ""),
        (tuple(range(0, 40, 2)), "0,2,4,6,8,10,…"),  # at most six pieces
    ],
)
def test_fd_ranges(fds: tuple[int, ...], text: str) -> None:
    assert fd_ranges(fds) == text


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([1, 1, 1]) == "▁▁▁"
    assert sparkline([0, 7]) == "▁█"
    assert len(sparkline(list(range(100)), width=40)) == 40


def test_watch_on_a_terminal_redraws_live_and_ends() -> None:
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fdscope",
                "watch",
                str(os.getpid()),
                "--interval",
                "0.05",
                "--iterations",
                "4",
            ],
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed: the watcher is done
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(30) == 0, proc.stderr.read()
        proc.stderr.close()
    finally:
        os.close(master)
    text = out.decode("utf-8", "replace")
    assert f"pid {os.getpid()}:" in text
    assert "4 refreshes, " in text
    assert "\x1b[" in text  # drawn with terminal control sequences, not line by line


def test_watch_tree_counts_the_workers_and_ctrl_c_ends_it() -> None:
    import signal

    code = (
        "import os, subprocess, sys\n"
        "kids = [subprocess.Popen([sys.executable, '-c', "
        "'import os, sys; fds = [os.open(os.devnull, 0) for _ in range(9)]; print(1, flush=True);"
        " sys.stdin.read()'], stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(2)]\n"
        "[k.stdout.readline() for k in kids]  # the workers hold their descriptors now\n"
        "print('ready', flush=True); sys.stdin.read()\n"
        "for k in kids: k.stdin.close(); k.wait()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        total = H.count(parent.pid, tree=True)
        assert total > H.count(parent.pid) + 18
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fdscope",
                "watch",
                str(parent.pid),
                "--tree",
                "--plain",
                "--interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            text=True,
            # as from a terminal: a test run started in the background (`make test &`)
            # ignores SIGINT, and a process that starts with it ignored keeps it so
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        first = watcher.stdout.readline()
        assert f"pid {parent.pid} + children: {total} /" in first
        watcher.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = watcher.communicate(timeout=30)
        assert watcher.returncode == 0
        assert rest.strip().splitlines()[-1].startswith("stopped; ")
    finally:
        parent.stdin.close()
        parent.wait(10)
        parent.stdout.close()
