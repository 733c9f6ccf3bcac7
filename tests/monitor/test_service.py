"""Service mode: the same leak watch as a sampler thread; EMF lines or Prometheus gauges."""

from __future__ import annotations

import io
import json
import math
import os
import time

from prometheus_client import CollectorRegistry, generate_latest

from fdscope.emf import ParseStats, parse_events
from fdscope.logs import LogEvent
from fdscope.monitor import ServiceWatch


def test_samples_write_valid_emf_and_warn_on_a_leak() -> None:
    out = io.StringIO()
    reg = CollectorRegistry()
    watch = ServiceWatch(
        interval=1.0, stream=out, prometheus=reg, service_name="api", warn_within_s=10**7
    )
    held = []
    try:
        for _ in range(24):  # a service leaking one descriptor per sample
            held.append(os.open(os.devnull, os.O_RDONLY))
            watch.sample()
    finally:
        for fd in held:
            os.close(fd)
    text = out.getvalue().splitlines()
    emf = [x for x in text if '"_aws"' in x]
    assert len(emf) == 24
    stats = ParseStats()
    pts = list(parse_events([LogEvent(0, x, "s", "g") for x in emf], stats))
    assert stats.records == 24 and stats.emf_validation_errors == 0
    fd = [p.value for p in pts if p.metric == "fd_use"]
    assert fd == sorted(fd) and fd[-1] - fd[0] == 23
    assert all(p.dimensions == {"service_name": "api"} for p in pts if p.declared)
    warnings = [json.loads(x) for x in text if x.startswith('{"level"')]
    assert len(warnings) == 1 and "WARNING" in warnings[0]["message"]
    assert watch.trend is not None and watch.trend.leaking
    metrics = generate_latest(reg).decode()
    assert "fdscope_open_fds" in metrics and "fdscope_fd_growth_per_second 1.0" in metrics
    assert reg.get_sample_value("fdscope_seconds_to_fd_limit") < math.inf


def test_flat_service_has_no_projection_and_the_thread_stops() -> None:
    out = io.StringIO()
    reg = CollectorRegistry()
    with ServiceWatch(interval=0.01, stream=out, emf=False, prometheus=reg) as watch:
        deadline = time.monotonic() + 10
        while watch.samples < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert watch.samples >= 12 and watch._thread is None
    assert out.getvalue() == ""  # no EMF asked, no warning
    assert reg.get_sample_value("fdscope_seconds_to_fd_limit") == math.inf
    assert reg.get_sample_value("fdscope_fd_growth_per_second") == 0.0
