"""The doctor on Node.js handlers: every Node example of the corpus (``runtime: nodejs`` in
examples/corpus.json) gets its stated verdict and the user's line; the seed reproduces
EMFILE at the default limit and names app.js's line in the handler, not the library's.

The examples run through the real local Lambda (aws-lambda-ric from fdscope's cache, or
the stand-in where it is not installed; tests/local/test_node_runtime.py covers both),
with the creation-site preload on. Leaks are reproduced at a limit of 256, as in
test_verdict.py; the seed at 1,024 as the story has it. Without node (or the examples'
packages) the tests skip; with CI=true they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fdscope.doctor import EXIT_CODES, decide, diagnose
from fdscope.doctor.culprits import Culprit
from fdscope.doctor.decision import rising_floors
from fdscope.doctor.node_advice import HIDES, SDK_V2, node_advice
from fdscope.local import Sample, sample_event
from tests.helpers.local_lambda import assert_nothing_left, example_runtime_ready

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "examples" / "corpus.json").read_text())["examples"]
NODE_ENTRIES = [e for e in CORPUS if e.get("runtime") == "nodejs"]
TEST_LIMIT = 256
DATA = Path(__file__).parent / "data"


def _ready(entry: dict[str, Any]) -> None:
    example_runtime_ready(ROOT, entry)


def _lines(entry: dict[str, Any]) -> set[str]:
    return {f"{entry['leak_file']}:{n}" for n in entry.get("leak_lines", ())}


def _event(entry: dict[str, Any]) -> Any:
    return sample_event(entry.get("event", "apigw-http"))


def _sockets() -> set[str]:
    return {p.name for p in Path("/tmp").glob("server-*.sock")}


OTHERS = [e for e in NODE_ENTRIES if e["name"] != "seed_node"]  # the seed: its own test


@pytest.mark.parametrize("entry", OTHERS, ids=[e["name"] for e in OTHERS])
def test_node_example_verdict_and_line(entry: dict[str, Any], tmp_path: Path) -> None:
    _ready(entry)
    broken = entry["expect"] == "broken"
    d = diagnose(
        entry["handler"],
        code_root=ROOT / entry["dir"],
        out_dir=tmp_path / "run",
        fd_limit=TEST_LIMIT,
        timeout_s=1.0 if broken else 10.0,
        event=_event(entry),
        max_invocations=400,
    )
    assert d.verdict == entry["expect"], (d.verdict, d.shape, d.notes, d.gc_check)
    assert d.exit_code == EXIT_CODES[entry["expect"]]
    if entry.get("leak_lines"):
        # the user's line first, in the handler's own file (never node_modules)
        assert d.culprits, d.notes
        assert d.culprits[0].site in _lines(entry), [c.site for c in d.culprits]
        assert d.culprits[0].site in d.advice, d.advice
        assert "node_modules" not in d.culprits[0].site
    if entry["expect"] == "leak":
        assert d.rate_per_invocation == pytest.approx(entry["rate"], rel=0.25)
        assert d.invocations_to_limit is not None
    if entry["expect"] == "gc-bound":
        assert d.gc_check and d.gc_check["collections_remove_growth"]
        assert d.gc_check["collection"] == "gc()"
    if entry["expect"] == "none":
        assert d.emfile == 0 and d.invocations_to_limit is None
    if broken:  # every invocation timed out: the finding is what kept the loop busy
        assert d.timeouts == d.invocations and d.cold_starts == d.invocations
        assert any("event loop still busy" in n and "app.js:11" in n for n in d.notes)
        assert "event loop never empties" in d.advice and HIDES in d.advice
    assert_nothing_left(SimpleNamespace(history=d.environments))


@pytest.mark.slow
def test_the_seed_reproduces_emfile_and_names_the_users_line(tmp_path: Path) -> None:
    """The story at Lambda's default limit: EMFILE at its invocation, a timeout, a cold
    start, app.js's line in the handler (not aws-serverless-express's), Node's fix."""
    entry = next(e for e in NODE_ENTRIES if e["name"] == "seed_node")
    _ready(entry)
    before = _sockets()
    d = diagnose(
        entry["handler"],
        code_root=ROOT / entry["dir"],
        out_dir=tmp_path / "run",
        timeout_s=2.0,
        event=_event(entry),
    )
    assert d.limit == 1024 and d.verdict == "leak" and d.exit_code == 1
    assert d.emfile >= 1 and d.emfile_at is not None
    assert abs(d.emfile_at - entry["emfile_at"]) <= 15, d.emfile_at
    assert d.timeouts >= 1 and d.cold_starts >= 2
    assert any(
        n.startswith("EMFILE reproduced") and "timed out" in n and "cold start" in n
        for n in d.notes
    ), d.notes
    top = d.culprits[0]
    assert top.site == f"app.js:{entry['leak_line']}" and top.function == "exports.handler"
    assert "serverless-express" in (top.call or "")
    assert d.rate_per_invocation == pytest.approx(3.0, rel=0.1)
    assert "once, outside the handler" in d.advice and top.site in d.advice
    assert d.gc_check is not None and not d.gc_check["collections_remove_growth"]
    summary = d.summary()
    assert summary["near_limit"] is None  # EMFILE came first: that is the finding
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["runtime"] == "nodejs"
    assert_nothing_left(SimpleNamespace(history=d.environments))
    assert _sockets() <= before  # the /tmp/server-*.sock files are removed


def _samples(counts: list[float]) -> list[Sample]:
    return [
        Sample(
            invocation=i + 1,
            stream="s",
            request_id=f"r{i}",
            start=0,
            end=1,
            duration_ms=1.0,
            status="ok",
            fd_count=int(c),
            by_kind={},
            threads=11,
            rss_bytes=1,
            fd_limit=1024,
            cold_start=i == 0,
        )
        for i, c in enumerate(counts)
    ]


@pytest.mark.parametrize("name", ["aging_mid_run", "aging_near_limit"])
def test_a_sawtooth_whose_floors_rise_is_a_leak(name: str) -> None:
    # measured: a server per invocation whose keep-alive connections age out after Node's
    # 5 s while its listening sockets stay; the saw-tooth's trend alone called it bounded
    counts = json.loads((DATA / "node_keepalive_aging.json").read_text())["series"][name]
    floors = rising_floors(counts)
    assert floors is not None and floors.rate >= 0.9
    verdict, trend, _ = decide(_samples(counts), limit=1024)
    assert trend.shape == "sawtooth" and not trend.leaking
    assert verdict == "leak"


@pytest.mark.parametrize(
    "counts",
    [
        [20.0 + i % 70 for i in range(300)],  # a collector's saw-tooth back to its baseline
        [20.0 + i % 70 + 0.05 * i for i in range(300)],  # one that creeps a little
        [20.0 + min(i, 80) + (i % 9 if i > 80 else 0) for i in range(300)],  # fills, cycles
        [20.0 + (i % 3) for i in range(300)],  # noise
    ],
)
def test_floors_that_return_or_stop_are_no_leak(counts: list[float]) -> None:
    assert rising_floors(counts) is None


def _culprit(site: str, call: str, kind: str = "tcp") -> Culprit:
    return Culprit(site, "exports.handler", call, kind, None, 10, False)


def test_node_advice_is_in_nodes_terms(tmp_path: Path) -> None:
    server = node_advice(
        "leak", _culprit("app.js:25", "@codegenie/serverless-express proxy"), False
    )
    assert (
        server is not None and "Create the server (and the app) once, outside the handler" in server
    )
    app = tmp_path / "app.js"
    app.write_text(
        "const AWS = require('aws-sdk');\n"
        "exports.handler = (event, context, cb) => {\n"
        "  context.callbackWaitsForEmptyEventLoop = false;\n"
        "  new AWS.S3().getObject({}, cb);\n"
        "};\n"
    )
    sdk = node_advice("leak", _culprit("app.js:4", "TLSSocket"), False, code_root=tmp_path)
    assert sdk is not None and SDK_V2 in sdk and HIDES in sdk
    assert "AWS_NODEJS_CONNECTION_REUSE_ENABLED=1" in sdk and "v3 keeps" in sdk
    files = node_advice("leak", _culprit("app.js:11", "fs.openSync", "file"), False)
    assert files is not None and "fs.closeSync(fd) in a finally block" in files
    child = node_advice("leak", _culprit("app.js:7", "spawn", "unix+process"), False)
    assert child is not None and "child process" in child
    loop = node_advice("broken", _culprit("app.js:11", "Server.listen"), False, loop_alive=True)
    assert loop is not None and "event loop never empties" in loop and HIDES in loop
    # nothing Node-specific to say: the language-neutral words apply
    assert node_advice("none", None, False) is None
    assert node_advice("broken", _culprit("app.js:3", "x"), False) is None
