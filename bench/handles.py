"""Benchmark of fdscope.handles against lsof, psutil and the bare readlink floor.

A holder process keeps about 11,000 descriptors open (5,000 files, 1,000 loopback
TCP connections with both ends held, 1,000 UNIX socket pairs, 1,000 pipes, some
eventfd/epoll); this process measures, in one run, medians after a warm-up:

- ``snapshot(pid)``: typed records with kinds, paths, endpoints, peers;
- ``snapshot(pid, details=True)``: plus position and flags from fdinfo;
- the floor: a bare ``os.listdir`` + ``os.readlink`` loop over /proc/PID/fd;
- ``lsof -p PID -n -P``; psutil ``open_files()`` + ``net_connections('all')``;
- ``count(pid)`` on the O(1) path (st_size of /proc/PID/fd, kernel >= 6.2) and on
  the listing fallback, forced; ``count(tree=True)`` of a 100-descriptor process.

Run: ``.venv/bin/python bench/handles.py`` (about a minute), ``--quick`` for a few seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

from fdscope import handles
from fdscope.handles import _linux

HOLDER = textwrap.dedent(
    """
    import os, resource, select, socket, sys, tempfile
    scale = float(sys.argv[1])
    n = lambda k: max(1, int(k * scale))
    want = n(5000) + 2 * n(1000) * 3 + n(1000) + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, want)), hard))
    keep = []
    tmp = tempfile.mkdtemp()
    for i in range(n(5000)):
        keep.append(open(os.path.join(tmp, f"f{i % 50}"), "a"))
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096); keep.append(srv)
    for _ in range(n(1000)):
        c = socket.create_connection(srv.getsockname()); a, _ = srv.accept(); keep += [c, a]
    for _ in range(n(1000)):
        keep += list(socket.socketpair())
    for _ in range(n(1000)):
        keep += list(os.pipe())
    for _ in range(20):
        keep.append(os.eventfd(0)); keep.append(select.epoll())
    print(len(os.listdir("/proc/self/fd")), flush=True)
    sys.stdin.read()
    """
)

SMALL = textwrap.dedent(
    """
    import os, sys
    from fdscope import handles
    import time, statistics
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(100 - handles.count())]
    handles.count(tree=True)
    times = []
    for _ in range(int(sys.argv[1])):
        t = time.perf_counter(); handles.count(tree=True); times.append(time.perf_counter() - t)
    print(handles.count(), statistics.median(times))
    """
)


def median_time(fn: Callable[[], object], reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rounds(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Each round runs every function once, in turn (so load changes hit all alike)."""
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def floor(pid: int) -> int:
    d = f"/proc/{pid}/fd/"
    n = 0
    for name in os.listdir(d):
        try:
            os.readlink(d + name)
            n += 1
        except FileNotFoundError:
            pass
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the descriptors, few reps")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    reps = 3 if args.quick else 7
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(scale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        nfds = int(holder.stdout.readline())
        pid = holder.pid
        print(
            f"holder pid {pid}: {nfds} descriptors; kernel {os.uname().release}; "
            f"medians of {reps} after warm-up"
        )
        fns: dict[str, Callable[[], object]] = {
            "floor: listdir + readlink": lambda: floor(pid),
            "fdscope snapshot(pid)": lambda: handles.snapshot(pid),
            "fdscope snapshot(pid, details=True)": lambda: handles.snapshot(pid, details=True),
        }
        lsof = shutil.which("lsof")
        if lsof:
            fns["lsof -p PID -n -P"] = lambda: subprocess.run(
                [lsof, "-p", str(pid), "-n", "-P", "-w"], capture_output=True, check=False
            )
        try:
            import psutil

            proc = psutil.Process(pid)
            conns = getattr(proc, "net_connections", None) or proc.connections
            fns["psutil open_files + net_connections"] = lambda: (
                proc.open_files(),
                conns("all"),
            )
        except ImportError:
            pass
        fns["count(pid) listing fallback (forced)"] = lambda: _linux.fd_count(pid, fast=False)
        times = rounds(fns, reps)
        rows = {name: statistics.median(ts) for name, ts in times.items()}
        floor_ts = times["floor: listdir + readlink"]
        ratios = {
            name: statistics.median(t / f for t, f in zip(ts, floor_ts, strict=True))
            for name, ts in times.items()
        }
        creps = 2000 if not args.quick else 200
        rows["count(pid) O(1) path"] = median_time(lambda: handles.count(pid), creps, 10)
        snap = handles.snapshot(pid)
        assert snap.count >= nfds - 2, (snap.count, nfds)
        assert handles.count(pid) == snap.count
    finally:
        holder.stdin.close()
        holder.wait()
    small = subprocess.run(
        [sys.executable, "-c", SMALL, str(creps)], capture_output=True, text=True, check=True
    ).stdout.split()
    rows[f"count(tree=True) of itself, {small[0]} fds"] = float(small[1])

    width = max(len(k) for k in rows)
    print(f"{'':<{width}}  {'median':>12}  per-round ratio to the floor")
    for name, secs in rows.items():
        shown = f"{secs * 1e3:9.3f} ms" if secs >= 1e-3 else f"{secs * 1e6:9.1f} µs"
        ratio = ratios.get(name)
        print(f"{name:<{width}}  {shown}  {'' if ratio is None else f'{ratio:7.3f}x'}")
    snap_r = ratios["fdscope snapshot(pid)"]
    detail_r = ratios["fdscope snapshot(pid, details=True)"] / snap_r
    print()
    print(f"snapshot / floor            {snap_r:5.2f}x   (goal <= 1.5)")
    print(f"details / snapshot          {detail_r:5.2f}x   (goal <= 2)")
    for peer in ("lsof -p PID -n -P", "psutil open_files + net_connections"):
        if peer in ratios:
            print(
                f"{peer.split()[0]:<10} / snapshot        {ratios[peer] / snap_r:5.2f}x slower than fdscope"
            )
    fb = rows["count(pid) listing fallback (forced)"] / rows["count(pid) O(1) path"]
    print(
        f"count: O(1) path {rows['count(pid) O(1) path'] * 1e6:.1f} µs; "
        f"the forced fallback costs {fb:,.0f}x that"
    )


if __name__ == "__main__":
    main()
