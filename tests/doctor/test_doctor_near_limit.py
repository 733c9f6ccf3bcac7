"""The doctor says EMFILE only when an open failed; near the limit is a warning (issue 14, item 1).

Two handlers in the real local Lambda (runtime client, in-function monitor, origins) at a
limit of 64: one leaks a descriptor per call and stops just short of the limit (every open
succeeds), one leaks until an open fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from fdscope.cli.doctor import render
from fdscope.doctor import diagnose, write_outputs
from fdscope.metrics.plot import run_chart

LIMIT = 64

SHORT = """
import os

held = []


def handler(event, context):
    # one more descriptor per call, until this process holds LIMIT - 2: inside the margin
    # (2 at a limit of 64), where every open still succeeds
    if len(os.listdir("/proc/self/fd")) - 1 < {stop}:
        held.append(os.open(os.devnull, os.O_RDONLY))
    return {{"held": len(held)}}
"""

LEAK = """
import os

held = []


def handler(event, context):
    held.append(os.open(os.devnull, os.O_RDONLY))  # until errno 24 is raised
    return {"held": len(held)}
"""


def _app(tmp_path: Path, source: str) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(source)
    return code


def _events(out: Path) -> list[dict]:
    from fdscope.logs import read_events

    docs = []
    for e in read_events(out):
        if e.message.startswith("{"):
            try:
                docs.append(json.loads(e.message))
            except ValueError:
                pass
    return docs


def test_near_the_limit_is_a_warning_with_a_projection_not_emfile(tmp_path: Path) -> None:
    out = tmp_path / "run"
    d = diagnose(
        "app.handler",
        code_root=_app(tmp_path, SHORT.format(stop=LIMIT - 2)),
        out_dir=out,
        fd_limit=LIMIT,
        n=60,
        gc_check=False,
    )
    write_outputs(d)
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    assert max(r["fd_count_max"] or r["fd_count"] for r in rows) == LIMIT - 2  # just short

    # the doctor: no EMFILE, a warning with the projection
    assert d.emfile == 0 and d.emfile_at is None
    near = d.near_limit
    assert near is not None and near["count"] == LIMIT - 2 and near["limit"] == LIMIT
    first = next(r for r in rows if (r["fd_count_max"] or r["fd_count"]) >= LIMIT - 2)
    assert near["invocation"] == first["invocation"]
    assert near["projected_at"] == near["invocation"] + 2  # one per invocation, two left
    text = (
        f"reached {LIMIT - 2} of {LIMIT} at invocation {near['invocation']}; "
        f"EMFILE projected at invocation ~{near['invocation'] + 2}"
    )
    assert any(text in n for n in d.notes), d.notes
    assert not any("EMFILE reproduced" in n for n in d.notes)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["emfile"] == 0 and summary["emfile_at"] is None
    assert summary["near_limit"] == near
    # the chart: a warning marker at the crossing, no failure
    geo = run_chart(rows, LIMIT, tmp_path / "chart.png")
    assert geo.marks["failed"] == () and near["invocation"] in geo.marks["near limit"]
    # what the CLI prints
    text = _rendered(d)
    assert "warning: near the limit, no open failed" in text and "EMFILE 0," in text
    assert f"reached {LIMIT - 2} of {LIMIT} at invocation {near['invocation']}" in text
    assert "reproduced" not in text

    # the monitor inside: no emfile member, no ERROR, one fd_near_limit WARNING
    docs = _events(out)
    records = [x for x in docs if "_aws" in x]
    assert len(records) == len(rows) and not any("emfile" in r for r in records)
    logs = [x for x in docs if x.get("logger") == "fdscope"]
    assert not any(x.get("level") == "ERROR" or x.get("event") == "emfile" for x in logs)
    warnings = [x for x in logs if x.get("event") == "fd_near_limit"]
    assert [w["level"] for w in warnings] == ["WARNING"], warnings
    assert warnings[0]["invocation"] == near["invocation"]


def test_an_open_that_failed_is_emfile_reproduced(tmp_path: Path) -> None:
    out = tmp_path / "run"
    d = diagnose(
        "app.handler",
        code_root=_app(tmp_path, LEAK),
        out_dir=out,
        fd_limit=LIMIT,
        n=60,
        gc_check=False,
    )
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    emfile = [r for r in rows if r["status"] == "emfile"]
    assert emfile and d.emfile == len(emfile) and d.emfile_at == emfile[0]["invocation"]
    assert any(
        n.startswith("EMFILE reproduced") and f"invocation {d.emfile_at}" in n for n in d.notes
    ), d.notes
    assert d.near_limit is None or d.near_limit["invocation"] < d.emfile_at
    docs = _events(out)
    records = {x["request_id"]: x for x in docs if "_aws" in x}
    assert records[emfile[0]["request_id"]].get("emfile") is True
    errors = [x for x in docs if x.get("logger") == "fdscope" and x.get("event") == "emfile"]
    assert errors and errors[0]["level"] == "ERROR"
    geo = run_chart(rows, LIMIT, tmp_path / "chart.png")
    assert d.emfile_at in geo.marks["failed"]
    assert f"reproduced: an open failed at invocation {d.emfile_at}" in _rendered(d)


def _rendered(d: object) -> str:
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    render(console, d, "app.handler", 1.0)
    return console.export_text()


def _event(stream: str, ts: int, message: str) -> str:
    return json.dumps({"logStreamName": stream, "timestamp": ts, "message": message})


def test_triage_first_failure_is_never_a_near_limit_record(tmp_path: Path) -> None:
    """An earlier monitor's count-only ERROR line and the fd_near_limit WARNING are not
    failures; the first failure is the invocation whose open failed."""
    from fdscope.insights.triage import triage

    stream, t = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef", 1_767_225_600_000
    lines, k = [], 0
    for i in range(1, 8):
        rid = f"00000000-0000-0000-0000-{i:012d}"
        k += 10
        lines.append(_event(stream, t + k, f"START RequestId: {rid} Version: $LATEST"))
        if i == 4:  # the count crossed into the margin: what the monitor (old, new) wrote
            old = {
                "level": "ERROR",
                "logger": "fdscope",
                "event": "emfile",
                "message": "fdscope EMFILE: 1008 of 1024 descriptors open after invocation 4 "
                "(request ?). Evidence: descriptor count at the limit: 1008 of 1024.",
                "invocation": 4,
                "evidence": ["descriptor count at the limit: 1008 of 1024"],
            }
            new = {
                "level": "WARNING",
                "logger": "fdscope",
                "event": "fd_near_limit",
                "message": "fdscope WARNING: 1008 of 1024 descriptors in use after invocation "
                "4, within 16 of the limit; no open has failed yet (EMFILE: none)",
                "invocation": 4,
            }
            for doc in (old, new):
                lines.append(_event(stream, t + k + 1, json.dumps(doc, separators=(",", ":"))))
        if i == 6:  # the open that failed
            lines.append(
                _event(
                    stream,
                    t + k + 2,
                    f"[ERROR] OSError: [Errno 24] Too many open files: '/tmp/x'\t{rid}",
                )
            )
        status = "error" if i == 6 else "success"
        lines.append(_event(stream, t + k + 3, f"END RequestId: {rid}"))
        lines.append(
            _event(
                stream,
                t + k + 4,
                f"REPORT RequestId: {rid}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
                f"Memory Size: 128 MB\tMax Memory Used: 40 MB"
                + ("\tStatus: error\tError Type: Runtime.Unknown" if status == "error" else ""),
            )
        )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = triage(path)
    s = got.streams[0]
    assert s.first_failure is not None and s.first_failure.invocation == 6, s.first_failure
    assert got.emfile == 1 and s.lives[0].invocations_to_failure == 6
