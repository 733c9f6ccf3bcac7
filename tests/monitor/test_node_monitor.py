"""The Node.js monitor (the layer's Node part, src/fdscope/monitor/node): its record, its
handler shapes, fail open, the trend port, and end to end through the local Lambda's Node
runtime with the built layer and no code change (examples/seed_node)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from fdscope.emf import ParseStats, parse_events
from fdscope.logs import LogEvent, read_events
from fdscope.monitor import DEFAULT_METRICS, UNITS
from fdscope.trend import analyze

ROOT = Path(__file__).resolve().parents[2]
NODE_PART = ROOT / "src" / "fdscope" / "monitor" / "node"
SEED = ROOT / "examples" / "seed_node"
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "emf" / "emf-schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# A harness: the monitor on a handler of every shape, a context as aws-lambda-ric gives it.
HARNESS = r"""
const { Monitor, configFromEnv } = require(process.env.MONITOR);
const out = [];
const err = [];
const env = { AWS_LAMBDA_FUNCTION_NAME: 'orders', AWS_LAMBDA_FUNCTION_VERSION: '7',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', FDSCOPE_SCAN: 'always' };
const mon = new Monitor(configFromEnv(env), { write: (l) => out.push(l), err: (l) => err.push(l) });
const ctx = (id) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 3000 });
const RESULT = { ok: true };
const ERR = new Error('boom');
const EMFILE = Object.assign(new Error("EMFILE: too many open files, open '/tmp/x'"), { code: 'EMFILE', errno: -24 });
const STREAM = Symbol.for('aws.lambda.runtime.handler.streaming');
async function main() {
  const got = {};
  const asyncOk = mon.wrap(async function api(event, context) { return RESULT; });
  got.asyncOk = (await asyncOk({}, ctx('r1'))) === RESULT;
  got.asyncArity = asyncOk.length;
  got.name = asyncOk.name;
  const asyncErr = mon.wrap(async (event, context) => { throw ERR; });
  try { await asyncErr({}, ctx('r2')); got.asyncErr = false; } catch (e) { got.asyncErr = e === ERR; }
  const syncErr = mon.wrap((event, context) => { throw ERR; });
  try { syncErr({}, ctx('r3')); got.syncErr = false; } catch (e) { got.syncErr = e === ERR; }
  const cb = mon.wrap((event, context, callback) => { setImmediate(() => callback(null, RESULT)); });
  got.cbArity = cb.length;
  got.cb = await new Promise((res) => cb({}, ctx('r4'), (e, r) => res(e === null && r === RESULT)));
  const cbErr = mon.wrap((event, context, callback) => callback(ERR));
  got.cbErr = await new Promise((res) => cbErr({}, ctx('r5'), (e) => res(e === ERR)));
  const streaming = async (event, stream, context) => { stream.end('x'); };
  streaming[STREAM] = 'response';
  const ws = mon.wrap(streaming);
  got.streaming = ws[STREAM] === 'response' && ws.length === 3;
  let ended = false;
  await ws({}, { end: () => { ended = true; } }, ctx('r6'));
  got.streamed = ended;
  const emf = mon.wrap(async () => { throw EMFILE; });
  try { await emf({}, ctx('r7')); got.emfile = false; } catch (e) { got.emfile = e === EMFILE; }
  process.stdout.write(JSON.stringify({ got, out, err }));
}
main();
"""

# aws-lambda-ric's side: load the wrapped handler through handler.mjs (FDSCOPE_HANDLER).
ENTRY = r"""
(async () => {
  const { handler } = await import(process.env.ENTRY);
  const RESULT_KEYS = ['ok'];
  const r = await handler({}, { awsRequestId: 'e1', getRemainingTimeInMillis: () => 3000 });
  let e2 = null;
  try { await handler({ fail: true }, { awsRequestId: 'e2' }); } catch (e) { e2 = e; }
  process.stdout.write(JSON.stringify({ r, e2: e2 && e2.message, same: e2 === globalThis.THROWN, len: handler.length }) + '\n');
})();
"""
USER_APP = """
exports.handler = async (event, context) => {
  if (event.fail) { globalThis.THROWN = new Error('user error'); throw globalThis.THROWN; }
  return { ok: 1 };
};
"""


def _node(script: str, tmp: Path, env: dict[str, str] | None = None) -> dict:
    path = tmp / "harness.js"
    path.write_text(script)
    full = {"PATH": "/usr/bin:/bin", "MONITOR": str(NODE_PART / "monitor.js"), **(env or {})}
    res = subprocess.run(
        [NODE, str(path)], capture_output=True, text=True, timeout=60, env=full, cwd=tmp
    )
    assert res.returncode == 0, res.stderr
    lines = [x for x in res.stdout.splitlines() if x.strip()]
    return {"doc": json.loads(lines[-1]), "stdout": lines[:-1], "stderr": res.stderr}


def test_handler_shapes_and_results_are_kept(tmp_path: Path) -> None:
    got = _node(HARNESS, tmp_path)["doc"]
    assert got["got"] == {
        "asyncOk": True,
        "asyncArity": 2,
        "name": "api",
        "asyncErr": True,
        "syncErr": True,
        "cbArity": 3,
        "cb": True,
        "cbErr": True,
        "streaming": True,
        "streamed": True,
        "emfile": True,
    }
    assert got["err"] == []  # no internal error


def test_the_node_record_validates_against_the_published_schema_and_parses(tmp_path: Path) -> None:
    doc = _node(HARNESS, tmp_path)["doc"]
    records = [json.loads(x) for x in doc["out"] if '"_aws"' in x]
    assert [r["request_id"] for r in records] == ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    for rec in records:
        VALIDATOR.validate(rec)
        assert rec["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "fdscope"
        assert rec["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
            ["function_name"],
            ["function_name", "version"],
        ]
        declared = [m["Name"] for m in rec["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        assert declared == [m for m in DEFAULT_METRICS if m in rec]
        assert all(
            m["Unit"] == UNITS[m["Name"]] for m in rec["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        )
        assert rec["event_type"] == "performance" and rec["function_name"] == "orders"
        assert rec["version"] == "7" and rec["total_memory"] == 128
        for member in ("fd_use", "fd_max", "fd_opened", "fd_closed", "fd_net", "new_connections"):
            assert isinstance(rec[member], int), member
    assert records[0]["cold_start"] is True and records[1]["cold_start"] is False
    assert [r.get("emfile") for r in records] == [None] * 6 + [True]  # only with evidence
    bad = json.loads(json.dumps(records[0]))
    bad["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Descriptors"
    assert not VALIDATOR.is_valid(bad)  # the check can fail
    stats = ParseStats()
    events = [LogEvent(0, json.dumps(r), "s", "g") for r in records]
    pts = list(parse_events(events, stats))
    assert stats.records == 7 and stats.emf_validation_errors == 0
    assert {p.metric for p in pts if p.declared} == set(DEFAULT_METRICS)
    # the report at EMFILE (a raised EMFILE here; real exhaustion in the end-to-end test)
    report = [json.loads(x) for x in doc["out"] if '"event":"emfile"' in x]
    assert len(report) == 1 and report[0]["level"] == "ERROR"
    assert "EMFILE (libuv errno -24)" in report[0]["evidence"][0]
    assert report[0]["by_kind"] and report[0]["handles"]


def test_fdscope_metrics_reads_the_node_record(tmp_path: Path) -> None:
    doc = _node(HARNESS, tmp_path)["doc"]
    log = tmp_path / "logs" / "node.log"
    log.parent.mkdir()
    log.write_text("".join(x + "\n" for x in doc["out"]))
    import sys

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdscope",
            "metrics",
            str(log),
            "--metric-name",
            "fd_use",
            "--dimensions",
            "function_name=orders",
            "--statistics",
            "SampleCount",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)["Datapoints"]
    assert sum(r["SampleCount"] for r in rows) == 7


FAIL_STAGES = ["start", "measure", "emit", "warning", "finish", "report"]


@pytest.mark.parametrize("stage", FAIL_STAGES)
def test_fails_open_when_a_stage_breaks(tmp_path: Path, stage: str) -> None:
    res = _node(HARNESS, tmp_path, {"FDSCOPE_NODE_MONITOR_FAULT": stage})
    got = res["doc"]["got"]
    assert all(v is True or isinstance(v, (int, str)) for v in got.values()), got
    assert {k for k, v in got.items() if v is False} == set()  # results and errors unchanged
    assert got["asyncArity"] == 2 and got["cbArity"] == 3
    errs = res["doc"]["err"]
    assert len(errs) == 1 and f"internal error in {stage}" in errs[0]  # once per process


@pytest.mark.parametrize("stage", ["require", "config"])
def test_fails_open_when_the_monitor_cannot_load(tmp_path: Path, stage: str) -> None:
    (tmp_path / "app.js").write_text(USER_APP)
    env = {
        "ENTRY": str(NODE_PART / "handler.mjs"),
        "FDSCOPE_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "FDSCOPE_NODE_MONITOR_FAULT": stage,
    }
    res = _node(ENTRY, tmp_path, env)
    assert res["doc"] == {"r": {"ok": 1}, "e2": "user error", "same": True, "len": 2}
    assert res["stderr"].count("fdscope: internal error") == 1 and stage in res["stderr"]
    assert not any('"_aws"' in x for x in res["stdout"])  # the handler runs untouched


def test_bad_configuration_runs_the_handler_untouched(tmp_path: Path) -> None:
    (tmp_path / "app.mjs").write_text(
        "export const handler = async (event) => { if (event.fail) { globalThis.THROWN = "
        "new Error('user error'); throw globalThis.THROWN; } return { ok: 1 }; };\n"
    )
    env = {
        "ENTRY": str(NODE_PART / "handler.mjs"),
        "FDSCOPE_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "FDSCOPE_METRICS": "fd_use,nonsense",
    }
    res = _node(ENTRY, tmp_path, env)  # an ES module handler, loaded as the runtime would
    assert res["doc"]["r"] == {"ok": 1} and res["doc"]["same"] is True
    assert "FDSCOPE_METRICS" in res["stderr"] and "nonsense" in res["stderr"]


def test_through_the_entry_one_record_per_invocation(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text(USER_APP)
    env = {
        "ENTRY": str(NODE_PART / "handler.mjs"),
        "FDSCOPE_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "api",
    }
    res = _node(ENTRY, tmp_path, env)
    assert res["doc"] == {"r": {"ok": 1}, "e2": "user error", "same": True, "len": 2}
    recs = [json.loads(x) for x in res["stdout"] if '"_aws"' in x]
    assert [r["request_id"] for r in recs] == ["e1", "e2"] and res["stderr"] == ""


TREND = r"""
const { analyze } = require(process.env.TREND);
const series = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = series.map((s) => { const t = analyze(s, { minPoints: 8 });
  return { ...t.toJSON(), to_limit: t.invocationsToLimit(1024) }; });
process.stdout.write(JSON.stringify(out) + '\n');
"""


def _series() -> list[list[float]]:
    rng = random.Random(17)
    out = [
        [10 + i for i in range(30)],  # growing
        [10 + 3 * i + rng.choice([-1, 0, 1]) for i in range(48)],  # growing, noisy
        [20 + (i % 10) * 4 + (i // 10) * 6 for i in range(60)],  # saw-tooth, rising floors
        [20 + (i % 10) * 4 for i in range(60)],  # saw-tooth, gc-bound
        [10 + min(i, 12) * 2 for i in range(40)],  # plateau
        [50 + rng.choice([-3, 0, 3]) for _ in range(40)],  # noisy
        [50.0] * 20,  # flat
        [200 - 2 * i for i in range(30)],  # shrinking
        [5 + 0.5 * i + rng.random() for i in range(150)],  # thinned (over 96 points)
        [1, 2, 3],  # insufficient
    ]
    out += [
        [rng.randint(0, 40) + i * rng.choice([0, 0.5, 1]) for i in range(48)] for _ in range(10)
    ]
    return out


def test_the_trend_port_agrees_with_fdscope_trend(tmp_path: Path) -> None:
    series = _series()
    path = tmp_path / "trend.js"
    path.write_text(TREND)
    res = subprocess.run(
        [NODE, str(path)],
        input=json.dumps(series),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TREND": str(NODE_PART / "trend.js")},
        check=True,
    )
    got = json.loads(res.stdout)
    for s, js in zip(series, got, strict=True):
        py = analyze(s, min_points=8)
        assert js["shape"] == py.shape, s
        assert js["significant"] == py.significant and js["leaking"] == py.leaking, s
        assert js["rate"] == pytest.approx(py.rate, abs=1e-9), s
        assert js["level"] == pytest.approx(py.level, abs=1e-9), s
        assert js["confidence"] == pytest.approx(py.confidence, abs=1e-4), s
        assert js["drops"] == py.drops and js["to_limit"] == py.invocations_to_limit(1024), s


# -- end to end: the built layer, the local Lambda's Node runtime, no code change


def _extract_as_lambda(zip_path: Path, opt: Path) -> None:
    import zipfile

    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, opt))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)


def _cli(args: list[str]) -> int:
    from fdscope.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.skipif(
    not (SEED / "node_modules" / "koa").is_dir(), reason="examples/seed_node: run `make node`"
)
def test_seed_node_through_the_layer_warns_before_emfile_and_reports_at_emfile(
    tmp_path: Path,
) -> None:
    layer_zip = tmp_path / "fdscope-layer.zip"
    assert _cli(["layer", "build", "--out", str(layer_zip), "--runtime", "nodejs20.x"]) == 0
    opt = tmp_path / "opt"
    _extract_as_lambda(layer_zip, opt)
    out = tmp_path / "run"
    n = 38
    rc = _cli(
        [
            "invoke",
            "app.handler",
            "--code-root",
            str(SEED),
            "--event-type",
            "apigw-rest",
            "-n",
            str(n),
            "--fd-limit",
            "128",
            "--timeout",
            "3",
            "--layer",
            str(opt),
            "--env",
            "AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper",
            "--sample",
            "count",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert rc == 1  # the invocation at EMFILE timed out (aws-serverless-express only logs it)
    events = list(read_events(out))
    messages = [e.message for e in events]
    starts = [m.split()[2] for m in messages if m.startswith("START RequestId:")]
    assert len(starts) == n

    # one record per invocation, valid EMF (the timed-out one included: its deadline probe)
    records = [json.loads(m) for m in messages if m.startswith("{") and '"_aws"' in m]
    assert [r["request_id"] for r in records] == starts
    for r in records:
        VALIDATOR.validate(r)
    stats = ParseStats()
    list(parse_events(events, stats))
    assert stats.records == n and stats.emf_validation_errors == 0

    docs = [json.loads(m) for m in messages if m.startswith('{"level"')]
    near = [d for d in docs if d["event"] == "fd_near_limit"]
    emfile = [d for d in docs if d["event"] == "emfile"]
    assert near and emfile
    first_emfile = messages.index(next(m for m in messages if '"event":"emfile"' in m))
    assert messages.index(next(m for m in messages if '"fd_near_limit"' in m)) < first_emfile
    w = near[0]
    assert w["level"] == "WARNING" and w["fd_max"] == 128 and w["rate"] == pytest.approx(3.0)
    assert w["projected_at"] == w["invocation"] + w["invocations_to_limit"]
    assert "EMFILE" not in w["message"] and "Too many open files" not in w["message"]
    # real exhaustion: the function's own listen() failed, then the monitor's evidence
    assert any("listen EMFILE" in m for m in messages[:first_emfile])
    rep = emfile[0]
    assert rep["level"] == "ERROR" and rep["fd_max"] == 128 and rep["evidence"]
    assert rep["by_kind"].get("unix", 0) >= 90  # the leaked servers and connections
    assert any(".sock" in h for h in rep["handles"])
    bad = [r for r in records if r.get("emfile")]
    assert bad and bad[0]["request_id"] == rep["request_id"]
    before = [r for r in records if records.index(r) < records.index(bad[0])]
    assert all("emfile" not in r for r in before)  # a count near the limit is no evidence
    fd_use = [r["fd_use"] for r in before]
    assert fd_use[-1] - fd_use[-2] == 3  # the seed leaks three per invocation
