"""Real public leak cases (examples/<name>/SOURCE.md): the fix passes, the leak does not.

Each case is a reproduction, written for the corpus, of an upstream project's own
leaking function, with its fixed twin following the upstream fix. The doctor's verdict
and culprit line and lint's lines are checked for every corpus entry by
tests/doctor/test_verdict.py, tests/local/test_corpus.py and tests/lint/test_examples.py
(driven by examples/corpus.json); here: each case is cited, the pytest plugin passes the
fix and fails the leak, and the doctor claims EMFILE only for invocations that failed.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from fdscope.doctor import diagnose
from fdscope.local import sample_event

# In-process pytester runs drop modules first imported inside them; import what the plugin
# uses now so every inner session sees the same tracker (as tests/pytest_plugin does).
for _name in (
    "fdscope.handles",
    "fdscope.origins",
    "fdscope.origins._report",
    "fdscope.origins._triggers",
    "fdscope.origins._tracker",
):
    importlib.import_module(_name)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CORPUS = {
    e["name"]: e for e in json.loads((ROOT / "examples" / "corpus.json").read_text())["examples"]
}
_QUIET = ("-p", "no:hypothesispytest")

# name: what --fd-leaks=fail says of the leaky version (the fixed one always passes)
CASES = {
    "miniwdl_task_log": "fails",  # a FileHandler per run, kept by its per-run logger
    "plombery_run_logger": "fails",  # the same, behind a guard that guards nothing
    "pycall_mkstemp": "fails",  # mkstemp's descriptor dropped
    # a connection in a reference cycle: garbage the cyclic GC frees is not charged to a
    # test (docs/lint.md, the pytest plugin's rule); lint and the doctor name it
    "flickypedia_sqlite": "passes",
}

# An inner test module: loads one example's app.py in a module fixture (as Lambda imports
# it once per environment) with its own temporary directory, and invokes the handler
# twice, once per test.
INNER = """
import importlib.util, tempfile, types, uuid
import pytest

APP = {app!r}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("lambda-tmp"))
    spec = importlib.util.spec_from_file_location("app_" + uuid.uuid4().hex, APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    tempfile.tempdir = saved


def _invoke(app):
    context = types.SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="f")
    return app.handler({{}}, context)


def test_first_invocation(app):
    assert _invoke(app)


def test_second_invocation(app):
    assert _invoke(app)
"""


def _plugin_run(pytester: pytest.Pytester, example: str) -> pytest.RunResult:
    app = ROOT / CORPUS[example]["dir"] / "app.py"
    pytester.makepyfile(**{f"test_{example}": INNER.format(app=str(app))})
    return pytester.runpytest(*_QUIET, "--fd-leaks=fail")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_case_is_cited_and_in_the_corpus(name: str) -> None:
    entry = CORPUS[name]
    fixed = CORPUS[entry["fixed"]]
    assert fixed["expect"] == "none" and fixed["lint_lines"] == []
    assert entry["lint_lines"] and entry["leak_lines"]
    source = (ROOT / entry["dir"] / "SOURCE.md").read_text()
    for part in ("**Repository**", "**Issue**", "**Upstream fix**", "read at commit"):
        assert part in source, (name, part)
    # the commit read and the fix, each as a full hash
    assert len(re.findall(r"`[0-9a-f]{40}`", source)) >= 2, name
    assert "not copied" in source  # a reproduction of our own, never fetched code


@pytest.mark.parametrize("name", sorted(CASES))
def test_pytest_plugin_passes_the_upstream_fix(pytester: pytest.Pytester, name: str) -> None:
    result = _plugin_run(pytester, CORPUS[name]["fixed"])
    result.assert_outcomes(passed=2)
    assert "leaked" not in result.stdout.str()


@pytest.mark.parametrize("name", sorted(CASES))
def test_pytest_plugin_on_the_leak(pytester: pytest.Pytester, name: str) -> None:
    result = _plugin_run(pytester, name)
    out = result.stdout.str()
    if CASES[name] == "fails":
        result.assert_outcomes(passed=2, errors=2)  # each invocation leaks its own descriptor
        line = CORPUS[name]["leak_line"]
        assert f"app.py:{line}" in out, out  # the creation line, as the doctor names it
    else:
        result.assert_outcomes(passed=2)


LEAKS = sorted(n for n in CASES if CORPUS[n]["expect"] == "leak")


@pytest.mark.parametrize("name", LEAKS)
def test_doctor_claims_emfile_only_for_failed_opens(name: str, tmp_path: Path) -> None:
    """The count reaches the limit; the doctor's EMFILE count and first EMFILE are the
    invocations whose open failed with errno 24, not those that came near the limit."""
    entry = CORPUS[name]
    d = diagnose(
        entry["handler"],
        code_root=ROOT / entry["dir"],
        out_dir=tmp_path / "run",
        fd_limit=128,
        timeout_s=10.0,
        event=sample_event("apigw-http"),
        max_invocations=140,
    )
    samples: list[dict[str, Any]] = [
        json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    ]
    failed = [s["invocation"] for s in samples if "Errno 24" in (s.get("error_message") or "")]
    assert failed, "the run reached the limit and an open failed"
    assert d.verdict == "leak" and {c.site for c in d.culprits} & {f"app.py:{entry['leak_line']}"}
    assert d.emfile == len(failed), (d.emfile, failed)
    assert d.summary()["emfile_at"] == failed[0]
