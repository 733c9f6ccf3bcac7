"""Node.js creation-site tracking: cost per handle and on a plain http request, tracking on vs off.

    .venv/bin/python bench/node.py [--handles N] [--requests N] [--rounds R]

Runs real node processes on 127.0.0.1 (loopback only). "off" is plain node,
"on" is node --require fdscope/origins/node/track.js. Per handle: a TCP
server listened on port 0 and closed, plus one fs.openSync/closeSync, each
timed in the process. Per request: sequential GETs with a keep-alive agent
against an http server in the same process (a koa request is the same path
plus koa's middleware; koa is not needed here). Prints the median of R rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

from fdscope.origins import node as node_origins

SCRIPT = r"""
const net = require('net'), fs = require('fs'), http = require('http');
const [H, R] = process.argv.slice(1).map(Number);
function listenClose(n, done) {
  let i = 0; const t0 = process.hrtime.bigint();
  const one = () => {
    if (i++ === n) return done(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    const s = net.createServer(); s.listen(0, '127.0.0.1', () => s.close(one));
  };
  one();
}
function opens(n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fs.closeSync(fs.openSync(__filename === '[eval]' ? '/etc/hostname' : __filename, 'r'));
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}
function requests(n, done) {
  const server = http.createServer((req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1', () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const port = server.address().port;
    let i = 0; let t0;
    const one = () => {
      if (i === 20) t0 = process.hrtime.bigint();  // warm-up
      if (i++ === n + 20) { agent.destroy(); server.close(); return done(Number(process.hrtime.bigint() - t0) / 1e3 / n); }
      http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', one); });
    };
    one();
  });
}
listenClose(H, (listen) => {
  const open = opens(H);
  requests(R, (req) => console.log(JSON.stringify({ listen, open, req })));
});
"""


def run(node: str, track: bool, handles: int, requests: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FDSCOPE_", "NODE_OPTIONS"))}
    cmd = [node]
    if track:
        cmd += ["--require", node_origins.PRELOAD]
    cmd += ["-e", SCRIPT, str(handles), str(requests)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--handles", type=int, default=300)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH")
    res: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for track in (False, True):  # interleaved: the machine's load hits both alike
            res[track].append(run(node, track, args.handles, args.requests))
    med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in res.items()}
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"node {version}, {args.rounds} rounds (median), loopback")
    for key, what in (
        ("listen", "TCP server listen+close (us)"),
        ("open", "fs.openSync+closeSync (us)"),
        ("req", "http GET keep-alive (us)"),
    ):
        off, on = med[False][key], med[True][key]
        print(f"  {what:32s} off {off:8.1f}  on {on:8.1f}  +{on - off:7.1f} us  ({on / off:4.2f}x)")


if __name__ == "__main__":
    main()
