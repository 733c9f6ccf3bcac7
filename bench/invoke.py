"""Per-invocation overhead of the local Lambda against calling the handler in-process.

    .venv/bin/python bench/invoke.py [--quick] [-n N]

For a handler holding about 100 and about 1,000 descriptors (opened at module
scope, as a leaky function would have them), measured in the same run:

- ``direct``: ``handler(event, context)`` called in this process;
- ``local``: one ``LocalLambda.invoke()`` (Runtime API round trip through the
  real awslambdaric, START/END/REPORT written, no outside sample);
- ``api``: the Runtime API's own view of the same invocations: from the moment
  ``/next`` handed the event out to the moment the response arrived;
- ``+count`` and ``+full``: ``invoke()`` with the outside sample
  (``handles.count`` over the tree; ``handles.snapshot`` of every process).

Medians after a warm-up. The overhead is ``local - direct``; the sample's cost
is ``+count - local`` and ``+full - local``. The machine is shared: read ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fdscope.local import LocalLambda  # noqa: E402
from fdscope.metrics import percentile  # noqa: E402

APP = """
import os
_held = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(os.environ.get("BENCH_FDS", "0")))]


def handler(event, context):
    return {"n": event.get("n", 0)}
"""


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


def _median_ms(samples: list[float]) -> float:
    return percentile(samples, 50) * 1000


def direct(code: Path, fds: int, n: int) -> float:
    import importlib.util
    import os

    os.environ["BENCH_FDS"] = str(fds)
    spec = importlib.util.spec_from_file_location(f"bench_app_{fds}", code / "app.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ctx = _Context()
    times = []
    for i in range(n + n // 5):
        t = time.perf_counter()
        mod.handler({"n": i}, ctx)
        times.append(time.perf_counter() - t)
    for fd in mod._held:
        os.close(fd)
    return _median_ms(times[n // 5 :])


def local(code: Path, out: Path, fds: int, n: int, sample: bool | str) -> tuple[float, float, int]:
    """(median invoke() ms, median api ms, fd count seen)."""
    walls, apis = [], []
    seen = 0
    with LocalLambda(
        "app.handler", code_root=code, out_dir=out, env={"BENCH_FDS": str(fds)}, sample=sample
    ) as fn:
        fn.invoke({"n": -1})  # cold start, not measured
        for i in range(n + n // 5):
            t = time.perf_counter()
            s = fn.invoke({"n": i})
            walls.append(time.perf_counter() - t)
            apis.append(s.duration_ms / 1000)
            if s.fd_count:
                seen = s.fd_count
        if not seen:
            from fdscope import handles

            seen = handles.count(fn.pid, tree=True) if fn.pid else 0
    w = n // 5
    return _median_ms(walls[w:]), _median_ms(apis[w:]), seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds' version")
    parser.add_argument("-n", type=int, default=None, help="invocations per measurement")
    args = parser.parse_args()
    n = args.n or (60 if args.quick else 400)
    with tempfile.TemporaryDirectory(prefix="fdscope-bench-") as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "app.py").write_text(APP)
        print(f"local Lambda overhead, median of {n} warm invocations per row")
        header = (
            f"{'fds':>6} {'direct':>9} {'local':>9} {'api':>8} {'overhead':>9} "
            f"{'+count':>8} {'+full':>8} {'local/direct':>13}"
        )
        print(header)
        for target in (100, 1000):
            # the runtime itself holds about ten descriptors
            fds = max(0, target - 12)
            d = direct(code, fds, n * 5)
            wall, api, seen = local(code, Path(tmp) / f"out-{target}-none", fds, n, False)
            count_wall, _, _ = local(code, Path(tmp) / f"out-{target}-count", fds, n, "count")
            full_wall, _, _ = local(code, Path(tmp) / f"out-{target}-full", fds, n, True)
            print(
                f"{seen:>6} {d:>8.4f}m {wall:>8.3f}m {api:>7.3f}m {wall - d:>8.3f}m "
                f"{count_wall - wall:>7.3f}m {full_wall - wall:>7.3f}m {wall / d:>12.0f}x"
            )
        print(
            "m = milliseconds; overhead = local - direct (goal: under 1 ms); "
            "+count/+full = the outside sample's cost on top of local"
        )


if __name__ == "__main__":
    main()
