"""Cost of the in-function monitor next to AWS Lambda Powertools and aws-embedded-metrics.

Run: .venv/bin/python bench/monitor.py [--quick]

1. Added import time: ``python -c "import X"`` minus ``python -c "pass"``, medians of
   interleaved runs, for fdscope.monitor (and its exec-wrapper entry's imports),
   ``aws_lambda_powertools.Metrics`` and ``aws_embedded_metrics``.
2. Per-invocation overhead at 100 and 1,000 open descriptors: a monitored no-op
   handler minus the bare one (the monitor measures ~25 members, writes one EMF
   record, runs the leak watch), next to Powertools' ``log_metrics`` emitting 20
   metrics per invocation. Medians and means (the monitor lists descriptors on the
   first 8 invocations, then every 16th, every (fd_use/16)th above 256: the mean carries that cost), after warm-up;
   mean* leaves out the slowest 1% (scheduling stalls of a shared machine); the CPU
   columns (thread CPU time) leave out time spent descheduled altogether.
3. ``new_connections`` before and after it was counted in ``socket.socket.connect``
   (issue 14, item 7), in the same run: the per-invocation median (monitored minus
   bare, at 100 open descriptors, ``socket`` imported) of the tree before the change
   (``git archive`` of the parent of the commit that added
   ``fdscope/monitor/_connections.py``, or HEAD while it is uncommitted; ``--before REF``)
   and of this tree, each in its own process, alternated; for a no-op handler and for
   one that opens and closes one loopback connection.
4. Under each Lambda Python (3.10-3.13, the environments of ``make pythons``:
   ``.venv/pythons/3.X``, a venv of that CPython with the real awslambdaric), in the
   same run, from a layer built by ``fdscope layer build`` (byte code for every
   version) and read as /opt is read (nothing written back): the monitor's import
   (``-X importtime`` cumulative of fdscope.monitor._monitor after the runtime
   client, median) with its version's byte code and from a layer carrying only
   Python 3.11's (the layer before per-version byte code: other versions compile
   the sources at every cold start), and the per-invocation median added to a no-op
   handler at 100 open descriptors; against the goals (5 ms, 100 us).
   ``--versions-only`` runs only this part.
5. Node.js (``--node-only``): the layer's Node monitor (``src/fdscope/monitor/node``)
   next to ``aws-embedded-metrics``' Node library emitting the same six metrics
   (npm, ``npm ci`` in bench/ by this script, pinned by bench/package-lock.json): the
   time ``require`` adds in a fresh node after the modules aws-lambda-ric has loaded
   (http, https, net; median of interleaved processes; the monitor's entry
   handler.mjs with its handler loading, and monitor.js alone), and the
   per-invocation cost at 100 and 1,000 open descriptors (a wrapped async no-op
   handler minus the bare one, medians and means of per-call pairs, output to
   /dev/null); goals: under 5 ms and under 100 us.
The machine is shared: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
OURS = "fdscope monitor"
IMPORTS = {
    OURS: "import fdscope.monitor._monitor",  # what the decorator / exec-wrapper entry loads
    "aws_lambda_powertools.Metrics": "from aws_lambda_powertools import Metrics",
    "aws_embedded_metrics": "from aws_embedded_metrics import metric_scope",
}
# In a function the runtime client has already imported json, threading, ...
RUNTIME = "import awslambdaric.bootstrap"


def import_times(runs: int, prefix: str) -> dict[str, float]:
    """Median added ms of each import over ``python -c prefix`` (interleaved runs)."""
    codes = {"baseline": prefix} | {k: f"{prefix}; {v}" for k, v in IMPORTS.items()}
    samples: dict[str, list[float]] = {k: [] for k in codes}
    # Byte-code caches on, as for the installed libraries we compare with (this
    # machine's environment sets PYTHONDONTWRITEBYTECODE=1, which would make only
    # fdscope, imported from its source tree, compile on every run).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for code in codes.values():  # warm the page cache, write the byte-code caches
        subprocess.run([PY, "-c", code], check=True, env=env)
    for _ in range(runs):
        for name, code in codes.items():  # interleaved: noise hits all alike
            t = time.perf_counter()
            subprocess.run([PY, "-c", code], check=True, env=env)
            samples[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    base = med.pop("baseline")
    return {k: v - base for k, v in med.items()}


def _monitor_import_ms(python: str, prefix: str, env: dict[str, str]) -> float | None:
    """fdscope.monitor._monitor's cumulative -X importtime after ``prefix``, one run (ms)."""
    res = subprocess.run(
        [python, "-X", "importtime", "-c", f"{prefix}; import fdscope.monitor._monitor"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    for line in res.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "fdscope.monitor._monitor":
            return int(parts[1]) / 1000
    return None


def self_import_ms(runs: int, prefix: str = "pass") -> float:
    """fdscope.monitor._monitor's cumulative -X importtime after ``prefix`` (median, ms)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    vals = [_monitor_import_ms(PY, prefix, env) for _ in range(runs)]
    return statistics.median(v for v in vals if v is not None)


def per_call(fn: Callable[[], object], n: int) -> list[tuple[float, float]]:
    """(wall, CPU) microseconds of each call; CPU time leaves out time spent descheduled."""
    out = []
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for _ in range(n):
        t, c = wall(), cpu()
        fn()
        out.append(((wall() - t) / 1000, (cpu() - c) / 1000))
    return out


def overhead(open_fds: int, n: int) -> dict[str, tuple[float, float]]:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    from fdscope.monitor import Config, Monitor

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < open_fds + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, open_fds + 256), hard))
    held = []
    from fdscope.handles import count

    while count() < open_fds:
        held.append(os.open(os.devnull, os.O_RDONLY))
    sink = open(os.devnull, "w")  # noqa: SIM115
    mon = Monitor(Config(function_name="bench", version="1"), stream=sink, err=sink)
    metrics = Metrics(namespace="Bench", service="bench")

    class Ctx:
        aws_request_id = "r"
        function_name = "bench"

    ctx = Ctx()

    def bare(event: object, context: object) -> int:
        return 1

    @metrics.log_metrics
    def powertools(event: object, context: object) -> int:
        for i in range(20):
            metrics.add_metric(name=f"m{i}", unit=MetricUnit.Count, value=i)
        return 1

    def fdscope_call() -> object:
        return mon.call(bare, None, ctx)

    def powertools_call() -> object:
        return powertools(None, ctx)

    def bare_call() -> object:
        return bare(None, ctx)

    res: dict[str, list[tuple[float, float]]] = {"bare": [], "fdscope": [], "powertools": []}
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        for _ in range(3):  # warm-up
            per_call(fdscope_call, 32)
            per_call(powertools_call, 32)
        for _ in range(8):  # interleaved blocks
            res["bare"] += per_call(bare_call, n // 8)
            res["fdscope"] += per_call(fdscope_call, n // 8)
            res["powertools"] += per_call(powertools_call, n // 8)
            buf.seek(0)
            buf.truncate()
    for fd in held:
        os.close(fd)
    sink.close()
    out: dict[str, tuple[float, float, float, float]] = {}
    bare_wall = [w for w, _ in res["bare"]]
    bare_cpu = [c for _, c in res["bare"]]
    for k in ("fdscope", "powertools"):
        w = [x for x, _ in res[k]]
        c = [y for _, y in res[k]]
        out[k] = (
            statistics.median(w) - statistics.median(bare_wall),
            _trimmed_mean(w) - _trimmed_mean(bare_wall),
            statistics.median(c) - statistics.median(bare_cpu),
            statistics.fmean(c) - statistics.fmean(bare_cpu),
        )
    return out


def per_invocation(open_fds: int, n: int) -> dict[str, float]:
    """Median us added by the monitor to a no-op handler and to a one-connection handler,
    with this process's fdscope (whatever tree PYTHONPATH names), at ``open_fds``."""
    import socket

    from fdscope.monitor import Config, Monitor

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < open_fds + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, open_fds + 256), hard))
    srv = socket.create_server(("127.0.0.1", 0), backlog=4096)
    addr = srv.getsockname()
    held = []
    while len(os.listdir("/proc/self/fd")) - 1 < open_fds:
        held.append(os.open(os.devnull, os.O_RDONLY))
    sink = open(os.devnull, "w")  # noqa: SIM115
    mon = Monitor(Config(function_name="bench", version="1"), stream=sink, err=sink)

    def noop(event: object, context: object) -> int:
        return 1

    def connect(event: object, context: object) -> int:
        socket.create_connection(addr).close()  # accepted by drain(), outside the timed calls
        return 1

    def drain() -> None:
        srv.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                srv.accept()[0].close()

    out: dict[str, float] = {}
    for name, fn in (("noop", noop), ("connect", connect)):
        bare: list[float] = []
        ours: list[float] = []
        per_call(lambda fn=fn: mon.call(fn, None, None), 64)  # warm-up
        for _ in range(8):
            bare += [w for w, _ in per_call(lambda fn=fn: fn(None, None), n // 8)]
            ours += [w for w, _ in per_call(lambda fn=fn: mon.call(fn, None, None), n // 8)]
            drain()
        out[name] = statistics.median(ours) - statistics.median(bare)
    for fd in held:
        os.close(fd)
    sink.close()
    srv.close()
    return out


def _before_ref() -> str:
    """The parent of the commit that added _connections.py (HEAD while uncommitted)."""
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [
            "git",
            "log",
            "--diff-filter=A",
            "--format=%H",
            "--",
            "src/fdscope/monitor/_connections.py",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        check=True,
    )
    added = res.stdout.split()
    return f"{added[-1]}^" if added else "HEAD"


def before_after(open_fds: int, n: int, rounds: int, ref: str | None) -> dict[str, object]:
    """per_invocation() of the tree before the change and of this one, alternated."""
    root = Path(__file__).resolve().parents[1]
    ref = ref or _before_ref()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    got: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", ref, "src"], cwd=root, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"before": str(Path(tmp) / "src"), "after": str(root / "src")}
        for _ in range(rounds):
            for label, tree in trees.items():
                res = subprocess.run(
                    [PY, __file__, "--per-invocation", str(open_fds), str(n)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**env, "PYTHONPATH": tree},
                )
                one = json.loads(res.stdout.strip().splitlines()[-1])
                for k, v in one.items():
                    got[label].setdefault(k, []).append(v)
    return {
        "ref": ref,
        **{label: {k: statistics.median(v) for k, v in d.items()} for label, d in got.items()},
    }


IMPORT_GOAL_MS, CALL_GOAL_US = 5.0, 100.0


def _version_import_ms(python: str, layer: Path, runs: int) -> list[float]:
    """-X importtime cumulative ms of fdscope.monitor._monitor after the runtime client,
    one per run, with ``layer`` as /opt/python (byte code read, never written: /opt is
    read-only on Lambda)."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(layer)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    vals = [_monitor_import_ms(python, RUNTIME, env) for _ in range(runs)]
    return [v for v in vals if v is not None]


def per_version(runs: int, n: int) -> dict[str, dict[str, float] | str]:
    """Per Lambda Python: import ms (own byte code, 3.11-only layer) and per-invocation us."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "versions"))
    from pythons import ready

    from fdscope.monitor import build_layer
    from fdscope.monitor._layer import LAMBDA_PYTHONS

    out: dict[str, dict[str, float] | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        layers = {}
        for label, runtimes in (("all", None), ("311", ["python3.11"])):
            zpath = Path(tmp) / f"{label}.zip"
            build_layer(zpath, runtimes=runtimes)
            with zipfile.ZipFile(zpath) as zf:
                zf.extractall(Path(tmp) / label)
            layers[label] = Path(tmp) / label / "python"
        for v in LAMBDA_PYTHONS:
            python = ready(v)
            if python is None:
                out[v] = "no environment (make pythons; no interpreter found?)"
                continue
            got: dict[str, list[float]] = {label: [] for label in layers}
            for _ in range(2):  # alternated, each layout twice
                for label, layer in layers.items():
                    got[label] += _version_import_ms(str(python), layer, runs)
            res = subprocess.run(
                [str(python), __file__, "--per-invocation", "100", str(n)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(layers["all"])},
            )
            call = json.loads(res.stdout.strip().splitlines()[-1])
            out[v] = {
                "import_ms": statistics.median(got["all"]),
                "import_best_ms": min(got["all"]),
                "import_311_layer_ms": statistics.median(got["311"]),
                "per_invocation_us": call["noop"],
            }
    return out


def _print_per_version(runs: int, n: int) -> None:
    load = os.getloadavg()[0]
    r = per_version(runs, n)
    print(
        "per Lambda Python, from the layer (/opt read-only): the monitor's import after the "
        f"runtime client (-X importtime cumulative, median of 2x{runs} runs) and the median "
        f"added per invocation at 100 open descriptors ({n} calls, no-op handler); "
        f"load average {load:.1f} on {os.cpu_count()} CPUs at the start:"
    )
    print(
        "  version  import, own byte code (best)  import, 3.11-only layer  per invocation"
        f"   goals {IMPORT_GOAL_MS:.0f} ms / {CALL_GOAL_US:.0f} us (medians)"
    )
    for v, row in r.items():
        if isinstance(row, str):
            print(f"  {v:7s}  missing: {row}")
            continue
        ok = row["import_ms"] <= IMPORT_GOAL_MS and row["per_invocation_us"] <= CALL_GOAL_US
        print(
            f"  {v:7s}  {row['import_ms']:16.1f} ms ({row['import_best_ms']:4.1f})"
            f"  {row['import_311_layer_ms']:19.1f} ms"
            f"  {row['per_invocation_us']:11.1f} us   {'met' if ok else 'MISSED'}"
        )


BENCH = Path(__file__).resolve().parent
NODE_MONITOR = BENCH.parent / "src" / "fdscope" / "monitor" / "node"
# what aws-lambda-ric has loaded before the handler's module
_NODE_RUNTIME = "require('http'); require('https'); require('net');"
_NODE_REQUIRE = r"""
%s
const t = process.hrtime.bigint();
%s
const ms = Number(process.hrtime.bigint() - t) / 1e6;
process.stderr.write(JSON.stringify(ms) + '\n');
"""
_NODE_ENTRY = """import 'http'; import 'https'; import 'net';
import { createRequire } from 'module';
const t = process.hrtime.bigint();
if (process.env.BARE) createRequire(import.meta.url)(process.env.BARE); else await import(%s);
process.stderr.write(JSON.stringify(Number(process.hrtime.bigint() - t) / 1e6) + '\\n');"""
_NODE_PER_CALL = r"""
const fs = require('fs');
const [fds, n] = [parseInt(process.argv[1], 10), parseInt(process.argv[2], 10)];
const held = [];
while (fs.readdirSync('/proc/self/fd').length < fds) held.push(fs.openSync('/dev/null', 'r'));
const { Monitor, configFromEnv } = require(process.env.MONITOR);
const { metricScope, Unit } = require('aws-embedded-metrics');
const mon = new Monitor(configFromEnv({ AWS_LAMBDA_FUNCTION_NAME: 'bench' }));
const bare = async (event, context) => 1;
const ours = mon.wrap(bare);
const emf = metricScope((metrics) => async (event, context) => {
  metrics.setNamespace('fdscope');
  metrics.putDimensions({ function_name: 'bench' });
  for (const m of ['fd_use', 'fd_net', 'new_connections', 'threads_max']) metrics.putMetric(m, 1, Unit.Count);
  metrics.putMetric('duration', 1, Unit.Milliseconds);
  metrics.putMetric('used_memory_max', 1, Unit.Megabytes);
  metrics.setProperty('request_id', context.awsRequestId);
  return 1;
});
const ctx = { awsRequestId: 'r', getRemainingTimeInMillis: () => 30000 };
async function time(fn) {
  const t = process.hrtime.bigint();
  await fn({}, ctx);
  return Number(process.hrtime.bigint() - t) / 1e3;
}
(async () => {
  for (let i = 0; i < 200; i++) { await time(bare); await time(ours); await time(emf); }
  const d = { fdscope: [], emf: [] };
  for (let i = 0; i < n; i++) {
    const b = await time(bare);
    d.fdscope.push((await time(ours)) - b);
    d.emf.push((await time(emf)) - b);
  }
  process.stderr.write(JSON.stringify(d) + '\n');
})();
"""


def _npm_ci() -> None:
    """aws-embedded-metrics (and ESLint) into bench/node_modules, as the lock file pins."""
    stamp = BENCH / "node_modules" / ".package-lock.json"
    lock = BENCH / "package-lock.json"
    if stamp.is_file() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)


def _node_ms(script: str, env: dict[str, str] | None = None) -> float:
    # aws-lambda-ric is an ES module: its process has the ES module loader up already
    esm = "import " in script.split("\n", 1)[0]
    res = subprocess.run(
        ["node", *(["--input-type=module"] if esm else []), "-e", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=BENCH,
        env={**os.environ, **(env or {})},
    )
    return float(json.loads(res.stderr.strip().splitlines()[-1]))


def node_require_ms(runs: int) -> dict[str, float]:
    """Median ms ``require`` adds after the runtime client's modules, interleaved."""
    app = Path(tempfile.mkdtemp(prefix="fdscope-node-app-"))  # the function's folder
    entry_env = {"FDSCOPE_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": str(app)}
    (app / "app.js").write_text("exports.handler = async () => 1;\n")
    cases = {
        "fdscope entry (handler.mjs + monitor.js) + app": (
            _NODE_ENTRY % json.dumps(str(NODE_MONITOR / "handler.mjs")),
            entry_env,
        ),
        "the function's module alone (app)": (
            _NODE_ENTRY % "''",
            {**entry_env, "BARE": str(app / "app.js")},
        ),
        "fdscope monitor.js": (
            _NODE_REQUIRE
            % (_NODE_RUNTIME, f"require({json.dumps(str(NODE_MONITOR / 'monitor.js'))});"),
            None,
        ),
        "aws-embedded-metrics": (
            _NODE_REQUIRE % (_NODE_RUNTIME, "require('aws-embedded-metrics');"),
            None,
        ),
    }
    got: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(runs):
        for k, (script, env) in cases.items():
            got[k].append(_node_ms(script, env))
    return {k: statistics.median(v) for k, v in got.items()}


def node_per_call(fds: int, n: int) -> dict[str, tuple[float, float]]:
    """(median, trimmed mean) us per invocation added to a no-op async handler."""
    with open(os.devnull, "w") as devnull:
        res = subprocess.run(
            ["node", "-e", _NODE_PER_CALL, str(fds), str(n)],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
            cwd=BENCH,
            env={
                **os.environ,
                "MONITOR": str(NODE_MONITOR / "monitor.js"),
                "AWS_EMF_ENVIRONMENT": "Local",
            },
        )
    d = json.loads(res.stderr.strip().splitlines()[-1])
    return {k: (statistics.median(v), _trimmed_mean(v)) for k, v in d.items()}


def _print_node(runs: int, n: int) -> None:
    _npm_ci()
    print(
        f"Node.js {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}:"
    )
    print(f"require time added after http/https/net (median of {runs} interleaved processes):")
    for k, v in node_require_ms(runs).items():
        print(f"  {k:42s} {v:7.2f} ms")
    for fds in (100, 1000):
        r = node_per_call(fds, n)
        print(f"per invocation at {fds} open descriptors ({n} calls, minus a bare handler), us:")
        print("                                            median     mean*")
        print(
            "  fdscope Node monitor (~25 members)     "
            + "".join(f"{v:10.1f}" for v in r["fdscope"])
        )
        print("  aws-embedded-metrics (6 metrics)       " + "".join(f"{v:10.1f}" for v in r["emf"]))


def _trimmed_mean(xs: list[float]) -> float:
    """Mean without the slowest 1%: scheduling stalls on a shared machine, not our cost."""
    s = sorted(xs)
    return statistics.fmean(s[: max(1, len(s) * 99 // 100)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds' version")
    ap.add_argument("--before", metavar="REF", help="the tree before new_connections' counter")
    ap.add_argument("--connections-only", action="store_true", help="only part 3 (before/after)")
    ap.add_argument("--versions-only", action="store_true", help="only part 4 (Python versions)")
    ap.add_argument("--node-only", action="store_true", help="only part 5 (Node.js)")
    ap.add_argument("--per-invocation", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.per_invocation:  # a child of before_after(), on the tree PYTHONPATH names
        print(json.dumps(per_invocation(*args.per_invocation)))
        return
    runs, n = (5, 400) if args.quick else (21, 4000)
    if args.connections_only:
        _print_before_after(n, args)
        return
    if args.versions_only:
        _print_per_version(runs, n)
        return
    if args.node_only:
        _print_node(runs, n)
        return

    for label, prefix in (("a bare interpreter", "pass"), ("the Lambda runtime client", RUNTIME)):
        t = import_times(runs, prefix)
        print(f"import time added over {label} (median of {runs} interleaved runs):")
        ours = t[OURS]
        for name, added in t.items():
            ratio = "" if name == OURS else f"  ({added / max(ours, 1e-3):5.1f}x fdscope's)"
            print(f"  {name:32s} {added:7.1f} ms{ratio}")
    k = max(5, runs // 2)
    print(
        "  fdscope.monitor._monitor cumulative (-X importtime, median):"
        f" {self_import_ms(k):.1f} ms in a bare interpreter,"
        f" {self_import_ms(k, RUNTIME):.1f} ms after the runtime client"
    )

    for fds in (100, 1000):
        o = overhead(fds, n)
        f, p = o["fdscope"], o["powertools"]
        print(f"per invocation at {fds} open descriptors ({n} calls, minus a bare handler), us:")
        print(
            "                                          wall median  wall mean*  CPU median  CPU mean"
        )
        print("  fdscope monitor (~25 members, 1 record) " + "".join(f"{v:11.1f}" for v in f))
        print("  Powertools log_metrics (20 metrics)     " + "".join(f"{v:11.1f}" for v in p))
        print(
            "  ratio Powertools / fdscope              "
            + "".join(f"{b / a:10.2f}x" for a, b in zip(f, p, strict=True))
        )
    _print_before_after(n, args)
    _print_per_version(runs, n)
    _print_node(runs, n)


def _print_before_after(n: int, args: argparse.Namespace) -> None:
    rounds = 2 if args.quick else 4
    r = before_after(100, n, rounds, args.before)
    b, a = r["before"], r["after"]
    assert isinstance(b, dict) and isinstance(a, dict)
    print(
        f"new_connections counted in socket.socket.connect: per-invocation median added by "
        f"the monitor at 100 open descriptors, us (medians of {rounds} alternated processes "
        f"of {n} calls; before = {r['ref']}):"
    )
    print("                                   before     after")
    print(f"  no-op handler               {b['noop']:10.1f}{a['noop']:10.1f}")
    print(f"  one loopback connection     {b['connect']:10.1f}{a['connect']:10.1f}")


if __name__ == "__main__":
    main()
