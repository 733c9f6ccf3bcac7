"""End to end through the local Lambda (fdscope.local) with the exec wrapper and no code change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.emf import ParseStats, parse_events
from fdscope.logs import read_events
from fdscope.monitor import wrapper_path

doctor = pytest.importorskip("fdscope.local")
ROOT = Path(__file__).resolve().parents[2]
LEAKY = ROOT / "examples" / "mkstemp_leak"  # tempfile.mkstemp per call, never closed


def test_leaky_function_warns_before_emfile_and_reports_at_emfile(tmp_path: Path) -> None:
    out = tmp_path / "run"
    samples = []
    with doctor.LocalLambda(
        "app.handler",
        code_root=LEAKY,
        out_dir=out,
        fd_limit=48,
        track_origins=True,
        env={"AWS_LAMBDA_EXEC_WRAPPER": str(wrapper_path())},
    ) as fn:
        for _ in range(80):  # bounded: the limit is 48, one descriptor leaks per call
            s = fn.invoke({})
            samples.append(s)
            if s.error_type == "OSError":  # the handler itself hit EMFILE: real exhaustion
                break
    failed = [s for s in samples if s.error_type == "OSError"]
    assert failed, [(s.status, s.fd_count) for s in samples]
    first_fail = failed[0].invocation

    events = list(read_events(out))
    stats = ParseStats()
    records = [json.loads(e.message) for e in events if '"_aws"' in e.message]
    list(parse_events(events, stats))
    # one EMF record per invocation, valid, carrying the request ids of the run
    assert stats.records == len(samples) == len(records) and stats.emf_validation_errors == 0
    assert [r["request_id"] for r in records] == [s.request_id for s in samples]
    assert [r["fd_use"] for r in records][:5] == sorted(r["fd_use"] for r in records[:5])

    logs = [json.loads(e.message) for e in events if e.message.startswith('{"level"')]
    warnings = [x for x in logs if x.get("event") == "fd_leak_warning"]
    reports = [x for x in logs if x.get("event") == "emfile"]
    assert len(warnings) == 1 and len(reports) == 1
    warning, report = warnings[0], reports[0]
    assert "WARNING" in warning["message"] and warning["rate"] == pytest.approx(1.0)
    assert warning["invocation"] < report["invocation"] <= first_fail  # warned before EMFILE
    assert any(site["site"].endswith("app.py:8") for site in warning["sites"])  # the culprit line
    assert "EMFILE" in report["message"] and report["fd_max"] == 48
    assert len(report["handles"]) >= 40 and report["by_kind"]["file"] >= 30  # the full report
    assert any(site["site"].endswith("app.py:8") for site in report["sites"])
    assert records[first_fail - 1].get("emfile") is True
    assert (out / "origins.jsonl").read_text().count("\n") >= len(samples) - 1


def test_fdscope_invoke_with_the_exec_wrapper_writes_one_record_per_invocation(
    tmp_path: Path,
) -> None:
    from fdscope.cli import main

    out = tmp_path / "run"
    args = [
        "invoke",
        "app.handler",
        "--code-root",
        str(LEAKY),
        "-n",
        "3",
        "--out",
        str(out),
        "--env",
        f"AWS_LAMBDA_EXEC_WRAPPER={wrapper_path()}",
        "--sample",
        "count",
    ]
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    stats = ParseStats()
    points = list(parse_events(read_events(out), stats))
    assert stats.records == 3 and stats.emf_validation_errors == 0
    fd_use = [
        p.value for p in points if p.metric == "fd_use" and p.dimensions.keys() == {"function_name"}
    ]
    assert len(fd_use) == 3 and fd_use[2] - fd_use[0] == 2  # mkstemp leaks one per call
