"""``fdscope invoke``: the command over the local Lambda, its options and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.cli import main
from fdscope.cli.invoke import parse_env_pairs, read_env_file
from fdscope.errors import DoctorError
from tests.helpers.local_lambda import BASIC, read_jsonl


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_invoke_writes_the_run_directory_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env_file = tmp_path / "vars.env"
    env_file.write_text("# comment\nexport FROM_FILE='yes'\nMY_SETTING=1\n")
    proc = _run(
        [
            "invoke",
            f"{BASIC}:env",
            "-n",
            "3",
            "--out",
            str(out),
            "--env-file",
            str(env_file),
            "--env",
            "MY_SETTING=2",
            "--event",
            str(_event(tmp_path, {"keys": ["FROM_FILE", "MY_SETTING"]})),
            "--function-name",
            "cli-test",
            "--memory",
            "512",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "invocations" in proc.stdout and "ok 3" in proc.stdout and str(out) in proc.stdout
    rows = read_jsonl(out / "samples.jsonl")
    assert [r["status"] for r in rows] == ["ok"] * 3
    meta = json.loads((out / "run.json").read_text())
    assert meta["function_name"] == "cli-test" and meta["memory_mb"] == 512
    assert meta["event"] == {"keys": ["FROM_FILE", "MY_SETTING"]}
    reports = [
        e["message"] for e in read_jsonl(out / "events.jsonl") if e["message"].startswith("REPORT")
    ]
    assert len(reports) == 3 and all("\tMemory Size: 512 MB\t" in r for r in reports)


def _event(tmp_path: Path, event: object) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return path


def test_failed_invocations_exit_1_and_sample_modes(tmp_path: Path) -> None:
    proc = _run(
        [
            "invoke",
            f"{BASIC}:boom",
            "-n",
            "2",
            "--out",
            str(tmp_path / "a"),
            "-q",
            "--sample",
            "count",
        ]
    )
    assert proc.returncode == 1 and proc.stdout == ""
    rows = read_jsonl(tmp_path / "a" / "samples.jsonl")
    assert [r["status"] for r in rows] == ["error", "error"]
    assert all(r["fd_count"] and r["by_kind"] == {} for r in rows)
    proc = _run(["invoke", f"{BASIC}:ok", "--out", str(tmp_path / "b"), "-q", "--sample", "none"])
    assert proc.returncode == 0
    assert read_jsonl(tmp_path / "b" / "samples.jsonl")[0]["fd_count"] is None


def test_bundled_event_type_reaches_the_handler(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        main_exit(["invoke", f"{BASIC}:echo", "--event-type", "s3", "--out", str(out), "-q"]) == 0
    )
    meta = json.loads((out / "run.json").read_text())
    assert meta["event"]["Records"][0]["eventSource"] == "aws:s3"


def main_exit(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    return int(exc.value.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invoke", "nodot", "-q"], "expected module.function"),  # malformed handler
        (["invoke", "/nonexistent/app.py:handler", "-q"], "handler file not found"),
        (["invoke", f"{BASIC}:ok", "--event", "/nonexistent.json", "-q"], "cannot read event file"),
        (["invoke", f"{BASIC}:ok", "--env", "NOEQUALS", "-q"], "expected KEY=VALUE"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit(args) == 2
    err = capsys.readouterr().err
    assert message in err


def test_event_and_event_type_together_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run(
        ["invoke", f"{BASIC}:ok", "--event", str(_event(tmp_path, {})), "--event-type", "sqs"]
    )
    assert proc.returncode == 2 and "not both" in proc.stderr


KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\"'#"),
    max_size=30,
).map(str.strip)


@settings(max_examples=100, deadline=None)
@given(env=st.dictionaries(KEYS, VALUES, max_size=8))
def test_dotenv_and_pairs_round_trip(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("env") / "x.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    assert read_env_file(path) == env
    assert parse_env_pairs(tuple(f"{k}={v}" for k, v in env.items())) == env


def test_json_env_files_flat_and_sam_shapes(tmp_path: Path) -> None:
    flat = tmp_path / "a.json"
    flat.write_text('{"A": "1", "B": 2}')
    sam = tmp_path / "b.json"
    sam.write_text('{"OrdersFunction": {"TABLE": "orders", "DEBUG": null}}')
    params = tmp_path / "c.json"
    params.write_text('{"Parameters": {"X": "y"}}')
    assert read_env_file(flat) == {"A": "1", "B": "2"}
    assert read_env_file(sam) == {"TABLE": "orders", "DEBUG": ""}
    assert read_env_file(params) == {"X": "y"}
    bad = tmp_path / "d.json"
    bad.write_text("[1, 2]")
    with pytest.raises(DoctorError):
        read_env_file(bad)
    broken = tmp_path / "e.env"
    broken.write_text("JUSTAWORD\n")
    with pytest.raises(DoctorError, match="e.env:1"):
        read_env_file(broken)
