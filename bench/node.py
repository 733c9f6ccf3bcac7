"""Node.js in fdscope: creation-site tracking on vs off, the local Node runtime's overhead
next to the Python runtime's, and the doctor's time to its verdict on the seed.

    .venv/bin/python bench/node.py [--part tracking|runtime|doctor|all] [--handles N]
        [--requests N] [--rounds R] [-n N]

Tracking (``--part tracking``):

Runs real node processes on 127.0.0.1 (loopback only). "off" is plain node,
"on" is node --require fdscope/origins/node/track.js, the script a file of its
own (its frames are the user's, as an application's are). Per handle: a TCP
server listened on port 0 and closed, plus one fs.openSync/closeSync. Per
request: sequential GETs with a keep-alive agent against an http server in the
same process, and against a koa app (two middlewares; koa from
examples/seed_node/node_modules, ``make node``; the row says so when it is
missing). Each timed in the process after 20 untimed ones, as wall time and as
the process's CPU time (user+system; a loaded machine blurs wall time, not CPU
time). Prints the median of R rounds and the load average.

Runtime (``--part runtime``): per-invocation overhead of the local Lambda against calling
the handler in-process, Node and Python in the same run, for a handler that returns at
once: ``direct`` (node calling the exported handler in a loop; for Python bench/invoke.py's
direct call), ``local`` (one ``LocalLambda.invoke()``: the Runtime API round trip through
aws-lambda-ric, or the stand-in, and awslambdaric for Python; no outside sample), medians
of N warm invocations, interleaved rounds. Goal: Node's overhead at most 1.2x Python's.

Doctor (``--part doctor``): ``fdscope doctor`` on examples/seed_node (its node_modules
installed), the time to the verdict excluding the time spent waiting for the function's
timeout (the EMFILE invocation times out; the timeout here is 2 s). Goal: under 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fdscope.origins import node as node_origins

SCRIPT = r"""
const net = require('net'), fs = require('fs'), http = require('http');
const [H, R] = process.argv.slice(2, 4).map(Number);
const KOA = process.argv[4];
const WARM = 20;  // operations not timed: the first call site's site and the JIT's warm-up
const out = {};
// wall and CPU (user+system) microseconds per operation: CPU is what a loaded machine cannot blur
function timer() {
  const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
  return (name, n) => {
    const c = process.cpuUsage(c0);
    out[name] = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    out[name + '_cpu'] = (c.user + c.system) / n;
  };
}
function listenClose(n, done) {
  let i = 0; let stop;
  const one = () => {
    if (i === WARM) stop = timer();
    if (i++ === n + WARM) { stop('listen', n); return done(); }
    const s = net.createServer(); s.listen(0, '127.0.0.1', () => s.close(one));
  };
  one();
}
function opens(n) {
  for (let i = 0; i < WARM; i++) fs.closeSync(fs.openSync(__filename, 'r'));
  const stop = timer();
  for (let i = 0; i < n; i++) fs.closeSync(fs.openSync(__filename, 'r'));
  stop('open', n);
}
function requests(n, done) {
  serve(http.createServer((req, res) => res.end('ok')), 'req', n, done);
}
function koaRequests(n, done) {
  // the same keep-alive GETs against a koa app (koa from examples/seed_node/node_modules)
  let Koa;
  try { Koa = require(KOA); } catch (_) { out.koa = out.koa_cpu = null; return done(); }
  const app = new Koa();
  app.use(async (ctx, next) => { await next(); ctx.set('x-n', '1'); });
  app.use(async (ctx) => { ctx.body = 'ok'; });
  serve(http.createServer(app.callback()), 'koa', n, done);
}
function serve(server, name, n, done) {
  server.listen(0, '127.0.0.1', () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const port = server.address().port;
    let i = 0; let stop;
    const one = () => {
      if (i === WARM) stop = timer();
      if (i++ === n + WARM) { stop(name, n); agent.destroy(); server.close(); return done(); }
      http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', one); });
    };
    one();
  });
}
listenClose(H, () => {
  opens(H);
  requests(R, () => koaRequests(R, () => console.log(JSON.stringify(out))));
});
"""


def run(node: str, track: bool, handles: int, requests: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FDSCOPE_", "NODE_OPTIONS"))}
    cmd = [node]
    if track:
        cmd += ["--require", node_origins.PRELOAD]
    with tempfile.TemporaryDirectory(prefix="fdscope-bench-track-") as tmp:
        # a file, not -e: its frames are the user's, as an application's are
        script = Path(tmp) / "bench.js"
        script.write_text(SCRIPT)
        cmd += [str(script), str(handles), str(requests), str(KOA)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


KOA = Path(__file__).resolve().parent.parent / "examples" / "seed_node" / "node_modules" / "koa"
NODE_APP = "exports.handler = async (event) => ({ n: event.n || 0 });\n"
DIRECT = r"""
const { handler } = require(process.argv[1]);
const n = Number(process.argv[2]);
(async () => {
  const times = [];
  for (let i = 0; i < n + n / 5; i++) {
    const t = process.hrtime.bigint();
    await handler({ n: i }, { awsRequestId: 'bench' });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const warm = times.slice(n / 5).sort((a, b) => a - b);
  console.log(JSON.stringify({ ms: warm[Math.floor(warm.length / 2)] }));
})();
"""


def _median_local_ms(code: Path, handler: str, out: Path, n: int, **options: object) -> float:
    from fdscope.local import LocalLambda

    walls = []
    with LocalLambda(handler, code_root=code, out_dir=out, sample=False, **options) as fn:
        fn.invoke({"n": -1})  # the cold start, not measured
        for i in range(n + n // 5):
            t = time.perf_counter()
            fn.invoke({"n": i})
            walls.append(time.perf_counter() - t)
    return statistics.median(walls[n // 5 :]) * 1000


def _node_direct_ms(node: str, app: Path, n: int) -> float:
    out = subprocess.run(
        [node, "-e", DIRECT, str(app), str(n)], capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ms"])


def runtime_overhead(node: str, n: int, rounds: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import invoke as py_bench  # bench/invoke.py: Python's direct call

    from fdscope.local.runtimes import _node_client

    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="fdscope-bench-node-") as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "app.js").write_text(NODE_APP)
        (code / "app.py").write_text(py_bench.APP)  # the same app as bench/invoke.py's
        clients = ["standin"]
        try:
            _node_client.find_client(code, int(_node_version(node).split(".")[0]), client="ric")
            clients.insert(0, "ric")
        except Exception as exc:  # not installed: the stand-in only (fdscope setup node)
            print(f"aws-lambda-ric not available ({exc}); the stand-in only")
        for r in range(rounds):  # interleaved: the machine's load hits every row alike
            out = Path(tmp) / f"r{r}"
            for client in clients:
                rows.setdefault(f"node {client}", []).append(
                    _median_local_ms(
                        code,
                        "app.js:handler",
                        out / client,
                        n,
                        node_client=client,
                    )
                )
            rows.setdefault("node direct", []).append(_node_direct_ms(node, code / "app.js", n))
            rows.setdefault("python local", []).append(
                _median_local_ms(code, "app.py:handler", out / "py", n)
            )
            rows.setdefault("python direct", []).append(py_bench.direct(code, 0, n * 5))
    med = {k: statistics.median(v) for k, v in rows.items()}
    py_over = med["python local"] - med["python direct"]
    print(f"local Lambda per-invocation overhead, median of {n} warm invocations x {rounds} rounds")
    print(
        f"  python (awslambdaric)   local {med['python local']:7.3f} ms  "
        f"direct {med['python direct']:7.4f} ms  overhead {py_over:6.3f} ms"
    )
    for client in clients:
        local_ms = med[f"node {client}"]
        over = local_ms - med["node direct"]
        print(
            f"  node ({client:7s})        local {local_ms:7.3f} ms  direct "
            f"{med['node direct']:7.4f} ms  overhead {over:6.3f} ms  "
            f"({over / py_over:4.2f}x python's; goal <= 1.2x)"
        )


def _node_version(node: str) -> str:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().lstrip("v")


def doctor_seed(timeout_s: float = 2.0) -> None:
    from fdscope.doctor import diagnose
    from fdscope.local import sample_event

    root = Path(__file__).resolve().parent.parent / "examples" / "seed_node"
    if not (root / "node_modules").is_dir():
        print(f"doctor: {root}/node_modules is missing (make node); skipped")
        return
    with tempfile.TemporaryDirectory(prefix="fdscope-bench-doctor-") as tmp:
        t = time.perf_counter()
        d = diagnose(
            "app.handler",
            code_root=root,
            out_dir=Path(tmp) / "run",
            timeout_s=timeout_s,
            event=sample_event("apigw-rest"),
        )
        wall = time.perf_counter() - t
    waited = d.timeouts * timeout_s
    print(
        f"doctor on examples/seed_node: verdict {d.verdict}, EMFILE at invocation "
        f"{d.emfile_at}, {d.invocations} invocations (+{d.gc_check['invocations'] if d.gc_check else 0}"
        f" with gc()), {wall:.2f} s, {wall - waited:.2f} s without the {d.timeouts} timeout(s)' "
        f"{waited:.0f} s (goal: under 15 s); culprit {d.culprits[0].site if d.culprits else None}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("tracking", "runtime", "doctor", "all"), default="all")
    ap.add_argument("--handles", type=int, default=300)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=300, help="invocations per runtime measurement")
    args = ap.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH")
    if args.part in ("runtime", "all"):
        runtime_overhead(node, args.n, max(1, min(args.rounds, 3)))
    if args.part in ("doctor", "all"):
        doctor_seed()
    if args.part not in ("tracking", "all"):
        return
    res: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for track in (False, True):  # interleaved: the machine's load hits both alike
            res[track].append(run(node, track, args.handles, args.requests))
    med = {
        t: {k: statistics.median(r[k] for r in rs) for k in rs[0] if rs[0][k] is not None}
        for t, rs in res.items()
    }
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"node {version}, {args.rounds} rounds (median), loopback, load average {load}")
    for key, what in (
        ("listen", "TCP server listen+close (us)"),
        ("open", "fs.openSync+closeSync (us)"),
        ("req", "http GET keep-alive (us)"),
        ("koa", "koa GET keep-alive (us)"),
    ):
        if any(r.get(key) is None for rs in res.values() for r in rs):
            print(f"  {what:32s} not measured ({KOA} missing: make node)")
            continue
        off, on = med[False][key], med[True][key]
        coff, con = med[False][key + "_cpu"], med[True][key + "_cpu"]
        print(
            f"  {what:32s} wall off {off:7.1f}  on {on:7.1f}  +{on - off:6.1f} us ({on / off:4.2f}x)"
            f"   cpu off {coff:7.1f}  on {con:7.1f}  +{con - coff:6.1f} us ({con / coff:4.2f}x)"
        )


if __name__ == "__main__":
    main()
