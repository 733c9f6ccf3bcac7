"""A count near the limit is a WARNING (``fd_near_limit``), never EMFILE: only an open that
failed is (issue 14, item 1).

One process under ``RLIMIT_NOFILE`` 64 with ``FDSCOPE_EMFILE_MARGIN`` 4: a handler leaks one
descriptor per call and stops just short of the limit (61 of 64: inside the margin, every
open still succeeds), stays there, goes back below, crosses again; then leaks until an open
really fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from fdscope.emf import ParseStats, parse_events
from fdscope.logs import LogEvent

SCRIPT = textwrap.dedent(
    """
    import io, json, os, resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    from fdscope.monitor import Config, Monitor

    out = io.StringIO()
    mon = Monitor(Config(function_name="fn", emfile_margin=4, scan="never"), stream=out)
    held = []
    phases = []

    def own():
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor left out

    def short_of_the_limit(event, context):
        if own() < 61:  # stops just short: 61 of 64, inside the margin (>= 60)
            held.append(os.open(os.devnull, os.O_RDONLY))

    def leak(event, context):  # until an open fails: errno 24 raised
        held.append(os.open(os.devnull, os.O_RDONLY))

    def run(fn, n):
        for _ in range(n):
            try:
                mon.call(fn, {}, None)
            except OSError as exc:
                phases.append(["raised", exc.errno, mon.invocations])
                return

    run(short_of_the_limit, 80)  # crosses once, then stays inside the margin
    phases.append(["first", mon.invocations])
    for _ in range(8):
        os.close(held.pop())  # back below the margin
    run(short_of_the_limit, 3)
    run(short_of_the_limit, 20)  # crosses a second time
    phases.append(["second", mon.invocations])
    run(leak, 20)
    print(json.dumps({"out": out.getvalue(), "phases": phases}))
    """
)


def _run() -> tuple[list[str], list[list[object]]]:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    return got["out"].splitlines(), got["phases"]


def test_near_the_limit_is_a_warning_per_crossing_and_emfile_only_when_an_open_failed() -> None:
    out, phases = _run()
    docs = [json.loads(x) for x in out]
    records = [d for d in docs if "_aws" in d]
    logs = [d for d in docs if "_aws" not in d]
    first_end = next(p[1] for p in phases if p[0] == "first")
    second_end = next(p[1] for p in phases if p[0] == "second")
    raised = next(p for p in phases if p[0] == "raised")
    assert raised[1] == 24  # the last phase really ran out of descriptors
    failed_at = raised[2]

    # before any open failed: no emfile anywhere, no ERROR, one warning per crossing
    before = [r for r in records if r["invocation"] < failed_at]
    assert len(before) == failed_at - 1 and not any("emfile" in r for r in before)
    assert not any(
        d.get("level") == "ERROR" or d.get("event") == "emfile"
        for d in logs
        if d["invocation"] < failed_at
    )
    near = [d for d in logs if d.get("event") == "fd_near_limit"]
    assert [d["level"] for d in near] == ["WARNING", "WARNING"], near
    assert near[0]["invocation"] <= first_end < near[1]["invocation"] <= second_end
    for d in near:
        assert d["fd_max"] == 64 and d["margin"] == 4 and 60 <= d["fd_process"] < 64
        assert "no open has failed" in d["message"] and "EMFILE" not in d["message"]
    # the first crossing comes with the projection from the trend (one per invocation);
    # the second follows a drop and a flat stretch: no trend, so no projection is made up
    d = near[0]
    assert d["rate"] is not None and 0.9 <= d["rate"] <= 1.1
    assert d["invocations_to_limit"] == 64 - d["fd_process"]
    assert d["projected_at"] == d["invocation"] + d["invocations_to_limit"]
    assert f"projected at invocation ~{d['projected_at']}" in d["message"]
    assert near[1]["projected_at"] is None and "projected" not in near[1]["message"]
    # every record in the margin without a failed open has fd_use but no emfile member
    inside = [r for r in before if r["fd_use"] >= 60]
    assert len(inside) >= 20

    # the invocation whose open failed: emfile true, the ERROR event, once
    failed = [r for r in records if r["invocation"] == failed_at]
    assert failed and failed[0]["emfile"] is True
    errors = [d for d in logs if d.get("event") == "emfile"]
    assert len(errors) == 1 and errors[0]["level"] == "ERROR"
    assert errors[0]["invocation"] == failed_at
    assert any("errno 24" in e for e in errors[0]["evidence"])

    # the record and the log stay valid EMF with their field names
    stats = ParseStats()
    now = int(time.time() * 1000)
    list(parse_events([LogEvent(now, x, "stream", "group") for x in out], stats))
    assert stats.records == len(records) and stats.emf_validation_errors == 0
