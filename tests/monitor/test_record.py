"""The per-invocation EMF record: Lambda Insights' names, the published schema, configuration."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import Ctx, lines
from hypothesis import given
from hypothesis import strategies as st

from fdscope.emf import ParseStats, parse_events
from fdscope.errors import EmfValidationError
from fdscope.logs import LogEvent
from fdscope.monitor import DEFAULT_METRICS, UNITS, Config

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "emf" / "emf-schema.json").read_text()
)
# The published schema names no draft; its "$id" fragments are draft-07 style.
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
LAMBDA_INSIGHTS = {
    "fd_use",
    "fd_max",
    "threads_max",
    "used_memory_max",
    "memory_utilization",
    "total_memory",
    "cpu_user_time",
    "cpu_system_time",
    "cpu_total_time",
    "tmp_used",
    "tmp_max",
    "rx_bytes",
    "tx_bytes",
    "total_network",
    "duration",
    "billed_duration",
    "cold_start",
    "init_duration",
    "request_id",
    "function_name",
    "version",
    "event_type",
}


def test_one_record_per_invocation_in_lambda_insights_shape(make_monitor) -> None:
    mon, out, _ = make_monitor(scan="always")
    held = []

    def handler(event: dict, context: Ctx) -> dict:
        held.append(open(__file__))  # noqa: SIM115  (one descriptor kept per invocation)
        return {"n": event["n"]}

    for i in range(5):
        assert mon.call(handler, {"n": i}, Ctx(f"r{i}")) == {"n": i}
    recs = lines(out)
    assert len(recs) == 5
    first, last = recs[0], recs[-1]
    assert set(first) >= LAMBDA_INSIGHTS  # every Lambda Insights member, same names
    assert {"fd_opened", "fd_closed", "fd_net", "new_connections"} <= set(first)
    assert first["event_type"] == "performance" and first["cold_start"] is True
    assert last["cold_start"] is False and "init_duration" not in last
    assert [r["request_id"] for r in recs] == [f"r{i}" for i in range(5)]
    assert all(r["fd_net"] == 1 and r["fd_opened"] >= 1 for r in recs[1:])
    assert last["fd_use"] - first["fd_use"] == 4
    assert first["function_name"] == "orders" and first["version"] == "7"
    assert first["total_memory"] == 128
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "fdscope"
    assert directive["Dimensions"] == [["function_name"], ["function_name", "version"]]
    assert [m["Name"] for m in directive["Metrics"]] == list(DEFAULT_METRICS)
    assert all(m["Unit"] == UNITS[m["Name"]] for m in directive["Metrics"])
    for h in held:
        h.close()


def test_the_record_validates_against_the_published_schema(make_monitor) -> None:
    mon, out, _ = make_monitor(scan="always")
    for _ in range(3):
        mon.call(lambda e, c: None, {}, Ctx())
    for rec in lines(out):
        VALIDATOR.validate(rec)
        bad = json.loads(json.dumps(rec))
        bad["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Descriptors"
        assert not VALIDATOR.is_valid(bad)  # the check can fail


def test_the_record_parses_back_to_datapoints(make_monitor) -> None:
    mon, out, _ = make_monitor()
    mon.call(lambda e, c: None, {}, Ctx())
    stats = ParseStats()
    pts = list(parse_events([LogEvent(0, out.getvalue().strip(), "s", "g")], stats))
    assert stats.records == 1 and stats.emf_validation_errors == 0
    fd = [p for p in pts if p.metric == "fd_use"]
    assert {tuple(sorted(p.dimensions)) for p in fd} == {
        ("function_name",),
        ("function_name", "version"),
    }
    assert all(p.declared and p.unit == "Count" for p in fd)
    undeclared = {p.metric for p in pts if not p.declared}
    assert {"fd_max", "cpu_total_time", "tmp_used"} <= undeclared  # members a query can read


def test_configured_by_environment_variables(make_monitor) -> None:
    env = {
        "FDSCOPE_NAMESPACE": "Shop",
        "FDSCOPE_DIMENSIONS": "function_name,stage",
        "FDSCOPE_DIM_stage": "prod",
        "FDSCOPE_METRICS": "fd_use,fd_max",
        "AWS_LAMBDA_FUNCTION_NAME": "checkout",
        "AWS_LAMBDA_FUNCTION_VERSION": "12",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    }
    cfg = Config.from_env(env)
    mon, out, _ = make_monitor(**{k: getattr(cfg, k) for k in cfg.__slots__})
    mon.call(lambda e, c: None, {}, Ctx())
    (rec,) = lines(out)
    d = rec["_aws"]["CloudWatchMetrics"][0]
    assert d["Namespace"] == "Shop" and d["Dimensions"] == [["function_name", "stage"]]
    assert [m["Name"] for m in d["Metrics"]] == ["fd_use", "fd_max"]
    assert rec["stage"] == "prod" and rec["function_name"] == "checkout" and rec["version"] == "12"
    VALIDATOR.validate(rec)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"FDSCOPE_DIMENSIONS": "function_name,nope"}, "FDSCOPE_DIMENSIONS"),  # unknown member
        ({"FDSCOPE_METRICS": "fd_use,request_id"}, "FDSCOPE_METRICS"),  # not numeric
        ({"FDSCOPE_WARN_WITHIN": "soon"}, "FDSCOPE_WARN_WITHIN"),  # not an integer
        ({"FDSCOPE_SCAN": "sometimes"}, "FDSCOPE_SCAN"),  # not a mode
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(EmfValidationError) as info:
        Config.from_env(env)
    assert info.value.field == field


def test_scan_auto_lists_descriptors_on_the_first_invocations_then_every_16th(make_monitor) -> None:
    mon, out, _ = make_monitor(scan="auto")
    for _ in range(33):
        mon.call(lambda e, c: None, {}, Ctx())
    scanned = [r["invocation"] for r in lines(out) if "fd_opened" in r]
    assert scanned == [1, 2, 3, 4, 5, 6, 7, 8, 16, 32]


def test_new_connections_counts_sockets_opened_during_the_invocation(make_monitor) -> None:
    import socket

    mon, out, _ = make_monitor(scan="always")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    kept: list[socket.socket] = []

    def per_call(event: dict, context: Ctx) -> None:
        s = socket.create_connection(srv.getsockname())  # a client per call, kept
        kept.append(s)

    reused = socket.create_connection(srv.getsockname())

    def reuse(event: dict, context: Ctx) -> None:
        reused.sendall(b"x")  # the same connection every call

    def pair(event: dict, context: Ctx) -> None:
        kept.extend(socket.socketpair())  # sockets, but no connection to a service

    def unconnected(event: dict, context: Ctx) -> None:
        kept.append(socket.socket())  # a TCP socket never connected
        listener = socket.create_server(("127.0.0.1", 0))  # and a listening one
        kept.append(listener)

    try:
        mon.call(per_call, {}, Ctx())
        mon.call(per_call, {}, Ctx())
        mon.call(reuse, {}, Ctx())
        mon.call(pair, {}, Ctx())
        mon.call(unconnected, {}, Ctx())
        recs = lines(out)
        assert [r["new_connections"] for r in recs] == [1, 1, 0, 0, 0]
        assert recs[3]["fd_opened"] == 2  # the pair is counted as descriptors, not connections
        assert recs[4]["fd_opened"] == 2  # so are sockets that connect nowhere
    finally:
        for s in [*kept, reused, srv]:
            s.close()


def test_scan_auto_lists_less_often_when_many_descriptors_are_open(make_monitor) -> None:
    import os

    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(480)]
    try:
        mon, out, _ = make_monitor(scan="auto")
        for _ in range(100):
            mon.call(lambda e, c: None, {}, Ctx())
    finally:
        for fd in held:
            os.close(fd)
    recs = lines(out)
    scanned = [r["invocation"] for r in recs if "fd_opened" in r]
    every = recs[-1]["fd_use"] // 16  # >= 30 with 480 extra descriptors open
    assert scanned[:8] == list(range(1, 9)) and every >= 30
    assert all(k % every == 0 for k in scanned[8:]) and 1 <= len(scanned[8:]) <= 100 // every


def test_fd_use_counts_the_process_tree(make_monitor) -> None:
    import os
    import subprocess
    import sys

    mon, out, _ = make_monitor()
    mon.call(lambda e, c: None, {}, Ctx())
    extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(20)]
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=extra,
    )
    try:
        for fd in extra:  # the child now holds them; this process does not
            os.close(fd)
        mon.call(lambda e, c: None, {}, Ctx())
    finally:
        child.communicate(b"", timeout=30)
    first, second = (r["fd_use"] for r in lines(out))
    assert second - first >= 20  # the child's descriptors count, as Lambda Insights counts them


def test_the_fast_encoding_is_the_document(make_monitor) -> None:
    mon, out, _ = make_monitor(scan="always", constants={"stage": "prod"})
    seen = []
    real = mon.encode

    def spy(st, rec):  # type: ignore[no-untyped-def]
        seen.append(mon.document(st, dict(rec)))
        return real(st, rec)

    mon.encode = spy  # type: ignore[method-assign]
    for i in range(3):
        mon.call(lambda e, c: None, {}, Ctx(f'r"{i}\\n'))  # a request id that needs escaping
    assert lines(out) == seen


@given(
    values=st.dictionaries(
        st.sampled_from(["duration", "fd_use", "cpu_total_time", "emfile", "tmp_used", "extra"]),
        st.one_of(st.booleans(), st.integers(-(2**63), 2**63), st.floats()),
        max_size=6,
    )
)
def test_the_encoding_parses_to_the_document_for_any_member_values(values: dict) -> None:
    # finite values go through the C encoder at once; NaN/infinity fall back to the
    # member-by-member path, which leaves those out (EMF has no NaN)
    import io
    import json
    import math

    from fdscope.monitor import Config, Monitor
    from fdscope.monitor._monitor import _Start

    mon = Monitor(Config(function_name="f"), stream=io.StringIO())
    st_ = _Start(
        invocation=1,
        wall=1.5,
        t=0.0,
        cpu=None,
        before=None,
        fds=None,
        net=None,
        request_id="r",
        no_fd=False,
    )
    line = mon.encode(st_, dict(values))
    doc = json.loads(line)
    want = mon.document(st_, dict(values))
    finite = {k: v for k, v in want.items() if not (isinstance(v, float) and not math.isfinite(v))}
    assert doc == finite


def test_the_fast_count_agrees_with_the_inventory_and_spares_the_cold_start(make_monitor) -> None:
    import json
    import os
    import subprocess
    import sys

    from fdscope import handles

    mon, _, _ = make_monitor()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"  # settled
        mon.count_tree(), handles.count(tree=True)  # warm both (first calls may open caches)
        assert mon.count_tree() == handles.count(tree=True)
    finally:
        child.communicate(b"", timeout=30)
    code = (
        "import io, json, sys; from fdscope.monitor import Config, Monitor;"
        "m = Monitor(Config(), stream=io.StringIO());"
        "[m.call(lambda e, c: None, {}, None) for _ in range(20)];"
        "print(json.dumps(['fdscope.handles' in sys.modules, m.internal_errors]))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert json.loads(res.stdout) == [False, 0]  # far from the limit: no inventory import


def test_the_limit_is_met_by_this_process_not_its_children() -> None:
    # RLIMIT_NOFILE is per process: a helper process holding many descriptors raises
    # fd_use (the tree, as Lambda Insights counts) but is no EMFILE of the function.
    import json
    import subprocess
    import sys

    code = (
        "import io, json, resource, subprocess, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "hold = 'import os; k = [os.open(os.devnull, 0) for _ in range(58)]; print(1, flush=True); input()'\n"
        "kid = subprocess.Popen([sys.executable, '-c', hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "kid.stdout.readline()\n"
        "from fdscope.monitor import Config, Monitor\n"
        "out = io.StringIO()\n"
        "m = Monitor(Config(), stream=out)\n"
        "[m.call(lambda e, c: None, {}, None) for _ in range(3)]\n"
        "kid.stdin.close(); kid.wait()\n"
        "recs = [json.loads(x) for x in out.getvalue().splitlines() if x.startswith('{')]\n"
        "print(json.dumps([[r.get('fd_use'), r.get('emfile', False)] for r in recs]))\n"
        "print(json.dumps([m.own_count, m.emfile_invocations]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    *_, recs_line, own_line = res.stdout.strip().splitlines()
    recs = json.loads(recs_line)
    own, emfile_invocations = json.loads(own_line)
    assert len(recs) >= 3 and all(use >= 58 + 3 for use, _ in recs), recs  # the tree counts
    assert not any(flag for _, flag in recs) and emfile_invocations == 0
    assert own is not None and own < 40
