"""End to end through the local Lambda (fdscope.local) with the exec wrapper and no code change.

The last test is the layer's own path, as a function gets it: the zip built by
``fdscope layer build``, extracted as Lambda extracts a layer into ``/opt``,
attached with ``fdscope invoke --layer``, and
``AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper`` (the local Lambda finds ``/opt/X``
in the attached layers).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from fdscope import local as doctor
from fdscope.emf import ParseStats, parse_events
from fdscope.logs import read_events
from fdscope.monitor import wrapper_path

ROOT = Path(__file__).resolve().parents[2]
LEAKY = ROOT / "examples" / "mkstemp_leak"  # tempfile.mkstemp per call, never closed
HANDLERS = ROOT / "tests" / "helpers" / "handlers"  # basic.ok: prints, logs, returns


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


def _cli(args: list[str]) -> None:
    from fdscope.cli import main

    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), args


def _extract_as_lambda(zip_path: Path, opt: Path) -> None:
    """What Lambda does with a layer: its files under /opt, modes kept (the wrapper runs)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, opt))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)


def test_the_layer_built_by_the_cli_monitors_an_unchanged_handler(tmp_path: Path) -> None:
    layer_zip = tmp_path / "fdscope-layer.zip"
    _cli(["layer", "build", "--out", str(layer_zip)])
    opt = tmp_path / "opt"
    _extract_as_lambda(layer_zip, opt)
    assert (opt / "fdscope-wrapper").stat().st_mode & 0o111

    out = tmp_path / "run"
    n = 3
    _cli(
        [
            "invoke",
            "basic.ok",  # no decorator, no fdscope import: the wrapper does it all
            "--code-root",
            str(HANDLERS),
            "-n",
            str(n),
            "--out",
            str(out),
            "--layer",
            str(opt),
            "--env",
            "AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper",
            "--env",
            "PYTHONVERBOSE=1",  # the child's stderr (the log) says where each module came from
            "--sample",
            "count",
            "-q",
        ]
    )
    events = list(read_events(out))
    messages = [e.message for e in events]
    starts = [m.split()[2] for m in messages if m.startswith("START RequestId:")]
    assert len(starts) == n
    assert sum(m.startswith("hello from") for m in messages) == n  # the handler ran unchanged

    # exactly one monitor record per invocation, valid EMF, in the invocations' order
    records = [json.loads(m) for m in messages if m.startswith("{") and '"_aws"' in m]
    stats = ParseStats()
    list(parse_events(events, stats))
    assert stats.records == n and stats.emf_validation_errors == 0
    assert [r["request_id"] for r in records] == starts
    assert [r["invocation"] for r in records] == list(range(1, n + 1))
    assert all(r["function_name"] == "handlers" and r["fd_use"] > 0 for r in records)

    # every fdscope module the function imported came from the layer (its byte code)
    loaded = re.findall(r"code object from '?([^'\s]*/fdscope/[^'\s]*)", "\n".join(messages))
    assert any("/monitor/__pycache__/entry." in p for p in loaded), loaded[:5]
    layer_python = str((opt / "python").resolve())
    assert loaded and all(p.startswith(layer_python) for p in loaded), loaded
