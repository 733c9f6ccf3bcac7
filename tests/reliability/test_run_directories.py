"""Run directories that cannot lie (issue 15 item 1): one test per fault.

Each test drives the real command (a subprocess) or the real library and asserts
what docs/reliability.md promises: a clear message, the exit code, nothing lost,
nothing left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from fdscope.doctor import Diagnosis, diagnose, write_outputs
from fdscope.local import LocalLambda, RunDirError, check_run_dir, claim_run_dir
from tests.helpers.local_lambda import BASIC, read_jsonl

LEAK = f"{BASIC}:leak"
OK = f"{BASIC}:ok"
HANG = f"{BASIC}:hang"


def fdscope(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def doctor(handler: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return fdscope("doctor", handler, "-n", "12", "--no-gc-check", "-q", "--out", str(out), *extra)


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _marked(mark: str) -> list[int]:
    """Live processes whose environment holds ``FDSCOPE_TEST_MARK=<mark>``."""
    found = []
    needle = f"FDSCOPE_TEST_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat[stat.rfind(")") + 2] not in "ZX":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_run_directory_holding_another_run_is_refused_and_left_intact(tmp_path: Path) -> None:
    # the issue: re-running into --out replaced the samples but kept the old summary.json
    # and fd_use.png, so compare reported "leak" for a run that had crashed
    out = tmp_path / "before"
    first = doctor(LEAK, out)
    assert first.returncode == 1, first.stderr
    before = _files(out)
    again = fdscope("invoke", f"{BASIC}:crash", "-n", "2", "-q", "--out", str(out))
    assert again.returncode == 2
    assert f"{out} holds another run" in again.stderr and "--force" in again.stderr
    assert "basic.py:leak" in again.stderr  # names the run that is there
    assert _files(out) == before  # nothing lost, nothing mixed in


def test_force_clears_the_old_run_first(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert doctor(LEAK, out).returncode == 1
    old_id = json.loads((out / "run.json").read_text())["run_id"]
    (out / "notes.txt").write_text("mine")  # not a run's file: left alone
    res = fdscope("invoke", f"{BASIC}:crash", "-n", "2", "-q", "--out", str(out), "--force")
    assert res.returncode == 1, res.stderr  # the crashes
    run = json.loads((out / "run.json").read_text())
    assert run["run_id"] != old_id and run["handler"].endswith(":crash")
    assert not (out / "summary.json").exists() and not (out / "fd_use.png").exists()
    assert (out / "notes.txt").read_text() == "mine"
    rows = read_jsonl(out / "samples.jsonl")
    assert [r["invocation"] for r in rows] == [1, 2]
    assert {r["run_id"] for r in rows} == {run["run_id"]}


def test_a_second_writer_of_the_same_directory_gets_a_clear_error(tmp_path: Path) -> None:
    # the issue: two runs into one --out interleaved into one samples.jsonl, every
    # invocation twice
    out = tmp_path / "two"
    first = subprocess.Popen(
        # one invocation that hangs until its 4 s timeout: the first run is surely going on
        [sys.executable, "-m", "fdscope", "invoke", HANG, "--timeout", "4", "-q"]
        + ["--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        second = fdscope("invoke", OK, "-n", "5", "-q", "--out", str(out), "--force")
        assert second.returncode == 2
        assert f"{out} is being written by another fdscope process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 1, err  # the timeout
    rows = read_jsonl(out / "samples.jsonl")
    assert [(r["invocation"], r["status"]) for r in rows] == [(1, "timeout")]  # once, whole
    check_run_dir(out)  # and the directory is consistent


def test_compare_refuses_a_summary_of_another_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert doctor(LEAK, a).returncode == 1
    assert doctor(OK, b).returncode == 0
    # a leftover summary.json from another run, beside this run's samples
    (b / "summary.json").write_bytes((a / "summary.json").read_bytes())
    res = fdscope("compare", str(a), str(b))
    assert res.returncode == 2
    assert "summary.json is from another run" in res.stderr
    assert "Traceback" not in res.stderr


def test_compare_and_plot_refuse_samples_of_two_runs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert fdscope("invoke", OK, "-n", "3", "-q", "--out", str(a)).returncode == 0
    assert fdscope("invoke", OK, "-n", "3", "-q", "--out", str(b)).returncode == 0
    with (b / "samples.jsonl").open("a") as fh:  # rows of run a appended to run b
        fh.write((a / "samples.jsonl").read_text())
    res = fdscope("compare", str(a), str(b))
    assert res.returncode == 2 and "rows of samples.jsonl belong to another run" in res.stderr
    plot = fdscope("plot", str(b), "-o", str(tmp_path / "b.png"))
    assert plot.returncode == 2 and "belong to another run" in plot.stderr
    assert not (tmp_path / "b.png").exists()


def test_a_directory_from_before_run_ids_with_repeated_invocations_is_refused(
    tmp_path: Path,
) -> None:
    run = tmp_path / "old"
    assert fdscope("invoke", OK, "-n", "3", "-q", "--out", str(run)).returncode == 0
    rows = read_jsonl(run / "samples.jsonl")
    for r in rows:
        r.pop("run_id")
    meta = json.loads((run / "run.json").read_text())
    meta.pop("run_id")
    (run / "run.json").write_text(json.dumps(meta))
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + rows))
    with pytest.raises(RunDirError, match="holds invocation 1 twice"):
        check_run_dir(run)


def test_sigterm_marks_the_run_interrupted_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = tmp_path / "run"
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdscope", "invoke", HANG, "-n", "3", "--timeout", "300", "-q"]
        + ["--out", str(out), "--env", f"FDSCOPE_TEST_MARK={mark}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the handler is in its sleep
        events = out / "events.jsonl"
        if events.exists() and "START RequestId" in events.read_text():
            break
        time.sleep(0.05)
    assert _marked(mark), "the handler never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is True and run["interrupted_reason"] == "SIGTERM"
    assert run["finished"] is None and run["ended"]
    time.sleep(0.2)
    assert _marked(mark) == []  # the environment did not outlive the run


def test_ctrl_c_marks_the_run_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdscope", "invoke", HANG, "--timeout", "300", "-q"]
        + ["--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = out / "events.jsonl"
        if events.exists() and "START RequestId" in events.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is True
    assert run["interrupted_reason"] == "KeyboardInterrupt (Ctrl-C)"


def test_an_exception_marks_the_run_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), LocalLambda(OK, out_dir=out) as fn:
        fn.invoke({})
        raise RuntimeError("the caller failed")
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is True and run["finished"] is None
    assert run["interrupted_reason"] == "RuntimeError: the caller failed"
    assert run["invocations"] == 1
    # a run that ended well says so
    with LocalLambda(OK, out_dir=tmp_path / "fine") as fn:
        fn.invoke({})
    fine = json.loads((tmp_path / "fine" / "run.json").read_text())
    assert fine["interrupted"] is False and fine["finished"]


def test_compare_warns_about_a_run_that_never_finished(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert doctor(OK, a).returncode == 0
    assert doctor(OK, b).returncode == 0
    meta = json.loads((b / "run.json").read_text())
    meta.update(finished=None, interrupted=None)  # fdscope was killed (SIGKILL) mid-run
    (b / "run.json").write_text(json.dumps(meta))
    res = fdscope("compare", "--json", str(a), str(b))
    doc = json.loads(res.stdout)
    assert any("after run was interrupted (never finished" in w for w in doc["warnings"])


def test_every_file_carries_the_run_id(tmp_path: Path) -> None:
    out = tmp_path / "run"
    d = diagnose(LEAK, out_dir=out, n=12, gc_check=False)
    write_outputs(d)
    rid = json.loads((out / "run.json").read_text())["run_id"]
    assert rid and d.run_id == rid
    assert {r["run_id"] for r in read_jsonl(out / "samples.jsonl")} == {rid}
    origins = read_jsonl(out / "origins.jsonl")
    assert origins and {r["run_id"] for r in origins} == {rid}
    assert json.loads((out / "summary.json").read_text())["run_id"] == rid
    # events.jsonl keeps CloudWatch's event model: no run id in it
    assert all("run_id" not in e for e in read_jsonl(out / "events.jsonl"))


def test_summary_and_picture_are_replaced_by_rename(tmp_path: Path) -> None:
    out = tmp_path / "run"
    d = diagnose(LEAK, out_dir=out, n=12, gc_check=False)
    write_outputs(d)
    inodes = {n: (out / n).stat().st_ino for n in ("summary.json", "fd_use.png")}
    write_outputs(d)
    for name, ino in inodes.items():
        assert (out / name).stat().st_ino != ino, f"{name} was rewritten in place"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name]


def test_a_failed_picture_write_keeps_the_old_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    from fdscope.errors import MetricsError
    from fdscope.metrics.plot import run_chart

    target = tmp_path / "fd_use.png"
    target.write_bytes(b"the old picture")
    rows = [{"invocation": i, "fd_count": 5 + i, "status": "ok"} for i in range(1, 6)]

    def half(self: Figure, path: object, **kw: object) -> None:
        Path(str(path)).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half)
    with pytest.raises(MetricsError, match="No space left"):
        run_chart(rows, 64, target)
    assert target.read_bytes() == b"the old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["fd_use.png"]


def test_write_outputs_refuses_a_directory_that_now_holds_another_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    d: Diagnosis = diagnose(OK, out_dir=out, n=12, gc_check=False)
    # meanwhile someone replaced the run (--force)
    claim_run_dir(out, force=True).release()
    with LocalLambda(OK, out_dir=out) as fn:
        fn.invoke({})
    with pytest.raises(RunDirError, match="now holds another run"):
        write_outputs(d)
    assert not (out / "summary.json").exists()


def test_the_doctor_refuses_a_directory_being_written(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    lock = claim_run_dir(out)
    try:
        res = doctor(OK, out, "--force")
    finally:
        lock.release()
    assert res.returncode == 2
    assert "is being written by another fdscope process" in res.stderr
    assert f"pid {os.getpid()}" in res.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["lint", "{src}", "-o", "{out}"],
        ["track", "--out", "{out}", "--", sys.executable, "-c", "pass"],
        ["layer", "build", "--out", "{out}"],
        ["plot", "{run}", "-o", "{out}"],
    ],
    ids=["lint -o", "track --out", "layer build --out", "plot -o"],
)
def test_every_writing_command_refuses_an_existing_file_unless_force(
    tmp_path: Path, command: list[str]
) -> None:
    src = tmp_path / "app.py"
    src.write_text("def handler(event, context):\n    return 1\n")
    out = tmp_path / "out.png" if command[0] == "plot" else tmp_path / "out.file"
    out.write_bytes(b"precious")
    run = tmp_path / "run"
    if command[0] == "plot":
        assert fdscope("invoke", OK, "-n", "3", "-q", "--out", str(run)).returncode == 0
    args = [a.format(src=src, out=out, run=run) for a in command]
    res = fdscope(*args)
    assert res.returncode == 2, res.stderr
    assert f"{out} exists" in res.stderr and "--force" in res.stderr
    assert out.read_bytes() == b"precious"
    # with --force it is replaced
    idx = args.index("--") if "--" in args else len(args)
    res = fdscope(*args[:idx], "--force", *args[idx:])
    assert res.returncode in (0, 1), res.stderr  # lint: 0 clean / 1 findings
    assert out.read_bytes() != b"precious"


def test_logs_pull_refuses_an_existing_file_before_any_call(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    existing = tmp_path / "aws_lambda_orders.jsonl"
    existing.write_text("precious\n")
    env = dict(
        os.environ,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # loopback, nothing listens: no call may be made
    )
    res = subprocess.run(
        [sys.executable, "-m", "fdscope", "logs", "pull", "--log-group", "/aws/lambda/orders"]
        + ["-q", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 2
    assert f"{existing} exists" in res.stderr and "--force" in res.stderr
    assert existing.read_text() == "precious\n"


def test_plot_does_not_overwrite_the_doctors_picture(tmp_path: Path) -> None:
    # issue 16: `fdscope plot runs/before` replaced the doctor's fd_use.png
    out = tmp_path / "before"
    assert doctor(LEAK, out).returncode == 1
    picture = (out / "fd_use.png").read_bytes()
    res = fdscope("plot", str(out))
    assert res.returncode == 2
    assert "fd_use.png exists (the run's picture)" in res.stderr and "--force" in res.stderr
    assert (out / "fd_use.png").read_bytes() == picture
    forced = fdscope("plot", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "fd_use.png").stat().st_size > 1000


def test_a_run_json_that_is_not_an_object_reads_as_no_run(tmp_path: Path) -> None:
    # every reader of run.json goes through read_run: a list, a torn file or none is {}
    from fdscope.doctor.diagnosis import _memory_enforced
    from fdscope.local import read_run

    assert read_run(tmp_path) == {}
    (tmp_path / "run.json").write_text("[1, 2]")
    assert read_run(tmp_path) == {}
    assert _memory_enforced(tmp_path) is None  # was: AttributeError on a list
    (tmp_path / "run.json").write_text('{"run_id": "r1", "memory": {"enforced": "poll"}}')
    assert read_run(tmp_path)["run_id"] == "r1" and _memory_enforced(tmp_path) == "poll"
    (tmp_path / "run.json").write_text('{"run_id": "r')
    assert read_run(tmp_path) == {}
