"""Service mode: the same leak watch as a background sampler thread for long-running processes."""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
from typing import IO, Any

from fdscope.trend import LeakWatch, Trend


class ServiceWatch:
    """Sample this process's descriptor count every ``interval`` seconds in a daemon thread.

    Each sample feeds a :class:`~fdscope.trend.LeakWatch`; rates are per sample
    and reported per second. Output: one EMF line per sample to ``stream``
    (``emf=True``), and/or Prometheus gauges when ``prometheus`` is True or a
    ``prometheus_client`` registry (imported only then): ``fdscope_open_fds``,
    ``fdscope_max_fds``, ``fdscope_fd_growth_per_second``,
    ``fdscope_seconds_to_fd_limit`` (+Inf when not growing). A leak projected
    within ``warn_within_s`` seconds writes one WARNING line.
    """

    def __init__(
        self,
        *,
        interval: float = 10.0,
        stream: IO[str] | None = None,
        emf: bool = True,
        prometheus: Any = False,
        namespace: str = "fdscope",
        service_name: str | None = None,
        warn_within_s: float = 3600.0,
        window: int = 48,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.interval = interval
        self.stream = stream
        self.emf = emf
        self.namespace = namespace
        self.service_name = service_name or os.path.basename(sys.argv[0] or "python") or "python"
        self.warn_within_s = warn_within_s
        self.watch = LeakWatch(window=window, every=1, min_points=8)
        self.samples = 0
        self.trend: Trend | None = None
        self.warned = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gauges: dict[str, Any] | None = None
        if prometheus:
            self._gauges = self._make_gauges(None if prometheus is True else prometheus)

    @staticmethod
    def _make_gauges(registry: Any) -> dict[str, Any]:
        from prometheus_client import REGISTRY, Gauge

        reg = REGISTRY if registry is None else registry
        return {
            "open": Gauge("fdscope_open_fds", "Open descriptors (process tree)", registry=reg),
            "max": Gauge("fdscope_max_fds", "Descriptor limit (soft RLIMIT_NOFILE)", registry=reg),
            "rate": Gauge(
                "fdscope_fd_growth_per_second", "Robust descriptor growth rate", registry=reg
            ),
            "eta": Gauge(
                "fdscope_seconds_to_fd_limit",
                "Projected seconds until the limit (+Inf when not growing)",
                registry=reg,
            ),
        }

    def _write(self, line: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(line + "\n")
        out.flush()

    def sample(self) -> dict[str, Any]:
        """Take one sample now; return its members (also written/exported)."""
        from fdscope.handles import count

        try:
            n = count(tree=True)
        except Exception:
            n = count()
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 1 << 20
        self.samples += 1
        fresh = self.watch.update(n)
        if fresh is not None:
            self.trend = fresh
        t = self.trend
        rate_s = (t.rate / self.interval) if t is not None and t.leaking else 0.0
        steps = t.invocations_to_limit(soft) if t is not None else None
        eta = steps * self.interval if steps is not None else math.inf
        rec: dict[str, Any] = {
            "fd_use": n,
            "fd_max": soft,
            "fd_growth_per_second": round(rate_s, 6),
            "threads_max": threading.active_count(),
        }
        if steps is not None:
            rec["seconds_to_fd_limit"] = round(eta, 1)
        if self._gauges is not None:
            g = self._gauges
            g["open"].set(n)
            g["max"].set(soft)
            g["rate"].set(rate_s)
            g["eta"].set(eta)
        if self.emf:
            from fdscope.emf import Metric, Record, dumps

            units = {"fd_use": "Count", "fd_max": "Count", "threads_max": "Count"}
            metrics = [Metric(k, v, units.get(k)) for k, v in rec.items() if k in units]
            props = {k: v for k, v in rec.items() if k not in units}
            props["event_type"] = "service"
            for line in dumps(
                Record(self.namespace, metrics, {"service_name": self.service_name}, None, props)
            ):
                self._write(line)
        if (
            t is not None
            and not self.warned
            and steps is not None
            and eta <= self.warn_within_s
            and t.confidence >= self.watch.min_confidence
        ):
            self.warned = True
            self._write(
                json.dumps(
                    {
                        "level": "WARNING",
                        "logger": "fdscope",
                        "event": "fd_leak_warning",
                        "message": (
                            f"fdscope WARNING: open descriptors grow {rate_s:.3f}/s "
                            f"({t.shape}, confidence {t.confidence:.2f}); {n} of {soft} "
                            f"in use, the limit is about {eta:.0f} s away"
                        ),
                        "service_name": self.service_name,
                        "fd_use": n,
                        "fd_max": soft,
                        "seconds_to_fd_limit": eta,
                    }
                )
            )
        return rec

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # fail open: a broken sample never kills the service
                try:
                    sys.stderr.write(f"fdscope: service sample failed: {exc}\n")
                except Exception:
                    pass
            self._stop.wait(self.interval)

    def start(self) -> ServiceWatch:
        """Start the daemon sampler thread (idempotent); return self."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="fdscope-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the sampler and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ServiceWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
