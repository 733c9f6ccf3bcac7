"""Lambda's memory size is a limit: an environment over it ends as Lambda ends it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fdscope.local import LocalLambda
from tests.helpers.local_lambda import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("enforcement", ["auto", "poll"])
def test_over_its_memory_size_the_environment_ends_as_on_lambda(
    enforcement: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FDSCOPE_MEMORY_ENFORCEMENT", enforcement)
    out = tmp_path / "run"
    with LocalLambda(
        "app.handler",
        code_root=ROOT / "examples" / "memory_leak",  # keeps 1 MB per invocation
        out_dir=out,
        memory_mb=128,
        sample="count",
    ) as fn:
        samples = [fn.invoke({}) for _ in range(140)]
    assert_nothing_left(fn)
    killed = [s for s in samples if s.status != "ok"]
    assert killed, "the environment went over 128 MB and was not ended"
    first = killed[0]
    assert first.status == "crash" and first.error_type == "Runtime.OutOfMemory"
    assert first.error_message and first.error_message.endswith(
        "Error: Runtime exited with error: signal: killed"
    )
    assert 60 <= first.invocation <= 130  # 1 MB each, from a runtime's few tens of MB
    after = samples[first.invocation]  # the next invocation: a new environment
    assert after.cold_start and after.status == "ok" and after.stream != first.stream
    assert first.rss_bytes and first.rss_bytes > 100 * 2**20
    events = [json.loads(x)["message"] for x in (out / "events.jsonl").read_text().splitlines()]
    report = next(m for m in events if m.startswith(f"REPORT RequestId: {first.request_id}"))
    sizes = re.search(r"Memory Size: (\d+) MB\tMax Memory Used: (\d+) MB", report)
    assert sizes and int(sizes[1]) == 128 and int(sizes[2]) >= 128
    assert "Status: error\tError Type: Runtime.OutOfMemory" in report
    assert any(
        m.endswith("Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n")
        for m in events
    )
    run = json.loads((out / "run.json").read_text())
    assert run["memory"]["memory_mb"] == 128
    assert run["memory"]["enforced"] in (("poll",) if enforcement == "poll" else ("cgroup", "poll"))
