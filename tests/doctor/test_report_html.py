"""Issue 16 item 8: every run directory gets a self-contained ``report.html``;
``fdscope compare --html`` writes the before/after page. The pages are loaded in a
real headless browser (Debian's chromium over the DevTools Protocol): no console
error, no network request, the verdict shown, the chart's points drawn, the hover."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[2]
LEAK = ROOT / "examples" / "os_pipe_leak" / "app.py"
FIXED = ROOT / "examples" / "os_pipe_leak_fixed" / "app.py"


def fdscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report")
    out = {}
    for name, path in (("before", LEAK), ("after", FIXED)):
        res = fdscope("doctor", f"{path}:handler", "-n", "60", "--no-gc-check", "-q",
                      "--out", str(base / name))  # fmt: skip
        assert res.returncode in (0, 1), res.stderr
        out[name] = base / name
    return out


def _data(page_html: str) -> dict:
    m = re.search(
        r'<script type="application/json" id="fdscope-data">(.*?)</script>', page_html, re.S
    )
    assert m is not None
    return json.loads(m.group(1))


def test_every_run_directory_gets_a_self_contained_report(runs: dict[str, Path]) -> None:
    page = (runs["before"] / "report.html").read_text()
    summary = json.loads((runs["before"] / "summary.json").read_text())
    assert summary["verdict"] == "leak" and 'class="verdict v-leak">leak<' in page
    # nothing from elsewhere: no external script, style, image or font
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    # the culprit with its source line, the fix, an invocation's logs by request id
    assert "app.py:7" in page and "os.pipe()" in page and 'class="hit"' in page
    assert "os.close()" in page
    first = json.loads((runs["before"] / "samples.jsonl").read_text().splitlines()[0])
    assert f'id="req-{first["request_id"]}"' in page and "START RequestId" in page
    data = _data(page)
    assert len(data["runs"][0]["points"]) == summary["invocations"]


def test_log_text_cannot_end_the_data_block(tmp_path: Path) -> None:
    from fdscope.doctor.report_html import render_run

    run = tmp_path / "run"
    run.mkdir()
    evil = '</script><script>document.title="owned"</script><!--'
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "handler": evil}))
    (run / "samples.jsonl").write_text(json.dumps({"invocation": 1, "request_id": "q1",
        "fd_count": 5, "status": "ok", "run_id": "r1"}) + "\n")  # fmt: skip
    (run / "events.jsonl").write_text(
        "".join(json.dumps({"logStream": "s", "message": m}) + "\n"
                for m in ("START RequestId: q1 Version: $LATEST", evil, "REPORT RequestId: q1"))
    )  # fmt: skip
    page = render_run(run, {"verdict": "none", "run_id": "r1", "advice": evil})
    assert page.count("</script>") == 2  # the data block's and the chart script's
    assert _data(page)["runs"][0]["points"][0][1] == 5
    assert evil not in page


def _browser_or_fail() -> None:
    if find_chromium() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


def _hover(page, fraction: float) -> str:  # type: ignore[no-untyped-def]
    rect = page.evaluate(
        "(function(){var s=document.querySelector('#chart svg');s.scrollIntoView();"
        "var r=s.getBoundingClientRect();return [r.left,r.top,r.width,r.height]})()"
    )
    page.call("Input.dispatchMouseEvent", type="mouseMoved",
              x=rect[0] + rect[2] * fraction, y=rect[1] + 60)  # fmt: skip
    page.settle(0.2)
    return str(page.evaluate("document.getElementById('tip').textContent"))


@pytest.mark.slow
def test_report_in_a_headless_browser(runs: dict[str, Path]) -> None:
    _browser_or_fail()
    report = runs["before"] / "report.html"
    with Browser() as browser:
        page = browser.open(report)
        assert page.errors == []
        assert page.requests == [report.resolve().as_uri()]  # the page itself, nothing else
        assert page.evaluate("document.getElementById('verdict').textContent") == "leak"
        drawn = page.evaluate("+document.querySelector('#chart svg').getAttribute('data-points')")
        circles = page.evaluate("document.querySelectorAll('#chart svg circle.pt').length")
        assert drawn == circles and circles >= 3 * 60 - 3  # descriptors, memory, duration
        tip = _hover(page, 0.5)
        assert re.search(r"invocation \d+\ndescriptors \d+\nmemory [\d.]+ MB\nduration [\d.]+ ms",
                         tip), tip  # fmt: skip
        assert page.errors == []


@pytest.mark.slow
def test_compare_html_in_a_headless_browser(runs: dict[str, Path], tmp_path: Path) -> None:
    _browser_or_fail()
    out = tmp_path / "compare.html"
    res = fdscope("compare", str(runs["before"]), str(runs["after"]), "--html", str(out))
    assert res.returncode == 0 and out.is_file(), res.stdout + res.stderr
    again = fdscope("compare", str(runs["before"]), str(runs["after"]), "--html", str(out))
    assert again.returncode == 2 and "--force" in again.stderr  # nothing replaced silently
    assert fdscope("compare", str(runs["before"]), str(runs["after"]), "--html", str(out),
                   "--force").returncode == 0  # fmt: skip
    with Browser() as browser:
        page = browser.open(out)
        assert page.errors == [] and page.requests == [out.resolve().as_uri()]
        assert page.evaluate("document.getElementById('verdict').textContent") == "fixed"
        assert page.evaluate("document.querySelectorAll('#chart svg polyline').length") == 6
        tip = _hover(page, 0.3)
        assert "before: invocation" in tip and "after: invocation" in tip


def test_the_report_says_what_keeps_the_culprit_alive(tmp_path: Path) -> None:
    from fdscope.doctor import diagnose, write_outputs

    handler = ROOT / "tests" / "helpers" / "handlers" / "held_in_list.py"
    d = diagnose(f"{handler}:handler", out_dir=tmp_path / "run", n=20, fd_limit=256, timeout_s=10.0)
    write_outputs(d)
    page = (tmp_path / "run" / "report.html").read_text()
    assert "what keeps them alive: kept in `_recent_tables` (held_in_list.py:5)" in page
    assert '<span class="hit">    5  _recent_tables = []</span>' in page  # the holder's line
    assert '<span class="hit">   10          self.conn = socket.socket()</span>' in page
