"""Every example of the corpus through the local Lambda: the counts behave as its README says.

Driven entirely by ``examples/corpus.json`` (no example is named here): each
entry's ``expect`` (leak, gc-bound, bounded, none, broken) and its measured
figures (``rate``, ``emfile_at``, ``peak``, ``plateau``, ``band``, ``status``)
say what the descriptor counts sampled from outside must show. Invocation
counts are chosen from those figures to keep the suite fast: a leak is run
long enough to measure its rate and project EMFILE; the examples whose README
places EMFILE within their own invocation count are run until EMFILE.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fdscope.local import LocalLambda, Sample, sample_event
from tests.helpers.local_lambda import assert_nothing_left, example_runtime_ready

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus.json"
LIMIT = 1024
TROUBLE = ("emfile", "timeout")  # how reaching the limit shows: an error, or a hang
EMFILE_RUN_TIMEOUT_S = 5.0  # a function timeout (Lambda's default is 3 s), so a hang ends


def _entries() -> list[dict[str, Any]]:
    if not CORPUS.exists():
        return []
    data = json.loads(CORPUS.read_text())
    return list(data["examples"] if isinstance(data, dict) else data)


ENTRIES = _entries()


def test_the_corpus_is_there() -> None:
    assert len(ENTRIES) >= 30  # the examples/corpus.json manifest drives every test below


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A keep-alive moto server on 127.0.0.1 with the bucket the examples use."""
    boto3 = pytest.importorskip("boto3")
    from fdscope.local import LocalAWS

    with LocalAWS() as server:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="orders")
        yield server.endpoint


def _invoke(
    entry: dict[str, Any],
    out: Path,
    n: int,
    *,
    stop_after_emfile: int | None = None,
    at_least: int | None = None,
    seconds: float | None = None,
    endpoint: str | None = None,
    **options: Any,
) -> tuple[list[Sample], LocalLambda]:
    """Run the example ``n`` times; fewer when EMFILE (or a timeout) came and
    ``stop_after_emfile`` more ran, or when ``at_least`` ran and ``seconds`` have
    passed (a slow handler)."""
    samples: list[Sample] = []
    event = _event(entry)
    fn = LocalLambda(
        entry["handler"],
        code_root=ROOT / entry["dir"],
        out_dir=out,
        aws_endpoint=endpoint,
        function_name=entry["name"],
        **options,
    )
    started = time.monotonic()
    with fn:
        first_emfile = None
        for i in range(n):
            if (
                at_least is not None
                and seconds is not None
                and i >= at_least
                and time.monotonic() - started > seconds
            ):
                break
            s = fn.invoke(event)
            samples.append(s)
            if s.status in TROUBLE and first_emfile is None:
                first_emfile = i
            if (
                stop_after_emfile is not None
                and first_emfile is not None
                and i - first_emfile >= stop_after_emfile
            ):
                break
    assert_nothing_left(fn)
    return samples, fn


def _event(entry: dict[str, Any]) -> Any:
    """The entry's ``event`` (a bundled type name or the event itself), else an HTTP API
    request: web-framework examples need one, the others ignore what they get."""
    given = entry.get("event", "apigw-http")
    return sample_event(given) if isinstance(given, str) else given


def _counts(samples: list[Sample]) -> list[int]:
    counts = [s.fd_count for s in samples]
    assert all(c is not None for c in counts), "every warm invocation is sampled"
    return [int(c) for c in counts if c is not None]


def _rate(counts: list[int]) -> float:
    """Descriptors per invocation from the second invocation on (the first may init lazily)."""
    return (counts[-1] - counts[1]) / (len(counts) - 2)


def _options(entry: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    if entry.get("needs") == "moto":
        return {"endpoint": request.getfixturevalue("moto_endpoint")}
    return {}


def _runtime_ready(entry: dict[str, Any]) -> None:
    example_runtime_ready(ROOT, entry)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_example_behaves_as_its_readme_says(
    entry: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _runtime_ready(entry)
    expect = entry["expect"]
    extra = _options(entry, request)
    if expect == "broken":
        _broken(entry, tmp_path, extra)
    elif expect == "leak":
        _leak(entry, tmp_path, extra)
    elif expect == "gc-bound":
        _gc_bound(entry, tmp_path, extra)
    elif expect == "bounded":
        _bounded(entry, tmp_path, extra)
    elif expect == "none":
        _clean(entry, tmp_path, extra)
    else:
        pytest.fail(f"unknown expect {expect!r} in corpus.json")


def _broken(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    status = entry["status"]
    n = int(entry.get("invocations", 3))
    timeout = 0.5 if status == "timeout" else 30.0
    samples, _ = _invoke(entry, tmp_path / "run", n, timeout_s=timeout, sample="count", **extra)
    assert [s.status for s in samples] == [status] * n
    streams = [s.stream for s in samples]
    if status in ("timeout", "crash"):
        # the environment ends each time: a cold start and a new log stream
        assert all(s.cold_start for s in samples) and len(set(streams)) == n
    if status == "error":
        assert all(s.error_type for s in samples)
        if len(set(streams)) == 1:  # a handler error: Lambda keeps the environment
            assert [s.cold_start for s in samples] == [True] + [False] * (n - 1)
        else:  # an init error: every invocation tries a new environment
            assert all(s.cold_start for s in samples) and len(set(streams)) == n
    events = (tmp_path / "run" / "events.jsonl").read_text()
    for s in samples:
        assert s.request_id in events
    if status == "timeout":
        assert events.count("Task timed out after 0.50 seconds") == n


def _leak(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    rate = float(entry["rate"])
    if "memory_rate" in entry:  # memory grows, descriptors do not: out of memory first
        _memory_leak(entry, tmp_path, extra)
        return
    if "thread_rate" in entry:  # threads pile up, descriptors need not
        samples, _ = _invoke(entry, tmp_path / "run", 30, sample="count", **extra)
        assert {s.status for s in samples} == {"ok"}
        threads = [float(s.threads or 0) for s in samples]
        assert _rate(threads) == pytest.approx(float(entry["thread_rate"]), rel=0.25)
        assert _rate(_counts(samples)) == pytest.approx(rate, abs=0.05)
        return
    emfile_at = entry.get("emfile_at")
    stated = int(entry.get("invocations", 0))
    if emfile_at is not None and emfile_at <= stated:
        # The README places EMFILE within its own run: reach it for real, at the
        # default descriptor limit, with a function timeout so a hang ends.
        samples, fn = _invoke(
            entry,
            tmp_path / "run",
            stated,
            stop_after_emfile=4,
            timeout_s=EMFILE_RUN_TIMEOUT_S,
            sample="count",
            **extra,
        )
        statuses = [s.status for s in samples]
        trouble = [i for i, st in enumerate(statuses) if st in TROUBLE]
        assert trouble, f"no EMFILE within {stated} invocations"
        first = trouble[0]
        assert first + 1 <= stated and all(st == "ok" for st in statuses[:first])
        counts = _counts(samples[: first + 1])
        assert LIMIT - 2 * rate - 2 <= max(counts) <= LIMIT  # the limit was reached
        assert _rate(counts[:-1]) == pytest.approx(rate, rel=0.5)
        # The run goes on: every later invocation is answered and recorded, and an
        # environment that hung or died is replaced (a new log stream, a cold start).
        after = samples[first:]
        assert len(after) == 5
        for prev, nxt in zip(after, after[1:], strict=False):
            if prev.status in ("timeout", "crash"):
                assert nxt.cold_start and nxt.stream != prev.stream
                assert nxt.init_duration_ms is not None
        events = (tmp_path / "run" / "events.jsonl").read_text()
        assert "Too many open files" in events or "Task timed out" in events
        return
    # at least 30 points: a background thread may open its descriptor after the sample
    n = min(stated or 10**6, max(math.ceil(12 / rate) + 2, 30))
    samples, _ = _invoke(entry, tmp_path / "run", n, sample="count", **extra)
    assert {s.status for s in samples} == {"ok"}
    counts = _counts(samples)
    if entry.get("counts") == "process":
        # child processes per invocation: the function's own count is the stated one (the
        # children's own descriptors vary with where each is in its start when sampled)
        counts = [int(s.fd_process or 0) for s in samples]
    assert _rate(counts) == pytest.approx(rate, rel=0.25, abs=0.05)
    if entry.get("family") == "thread":
        threads = [s.threads or 0 for s in samples]
        assert threads[-1] - threads[1] >= (n - 2) * min(rate, 1.0) * 0.75
    if emfile_at is not None:
        projected = len(counts) + (LIMIT - counts[-1]) / _rate(counts)
        assert projected == pytest.approx(float(emfile_at), rel=0.1)
    if entry.get("family") == "gc-cycle":
        _flat_with_gc(entry, tmp_path, extra)


def _memory_leak(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    """Resident memory grows at ``memory_rate`` bytes per invocation until Lambda ends the
    environment over ``memory_mb`` near ``oom_at`` (Runtime.OutOfMemory), then a cold start."""
    oom_at = int(entry["oom_at"])
    samples, _ = _invoke(
        entry, tmp_path / "run", oom_at + 20, memory_mb=int(entry["memory_mb"]), **extra
    )
    killed = [s for s in samples if s.error_type == "Runtime.OutOfMemory"]
    assert killed, "never out of memory"
    first = killed[0]
    assert first.status == "crash" and first.invocation == pytest.approx(oom_at, rel=0.15)
    assert samples[first.invocation].cold_start  # the next one: a new environment
    before = samples[: first.invocation - 1]
    rss = [float(s.rss_bytes or 0) for s in before]
    assert _rate(rss) == pytest.approx(float(entry["memory_rate"]), rel=0.1)
    assert _rate(_counts(before)) == pytest.approx(float(entry["rate"]), abs=0.05)


def _flat_with_gc(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    """A collection after every invocation keeps a gc-cycle example flat."""
    samples, _ = _invoke(entry, tmp_path / "gc", 8, gc_between=True, sample="count", **extra)
    counts = _counts(samples)[2:]
    assert max(counts) - min(counts) <= 2, counts


def _gc_bound(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    rate = float(entry.get("rate", 1.0))
    peak = float(entry["peak"])
    n = min(int(entry.get("invocations", 300)), int(1.2 * peak / rate) + 10)
    samples, _ = _invoke(entry, tmp_path / "run", n, sample="count", **extra)
    assert {s.status for s in samples} == {"ok"}
    counts = _counts(samples)
    base = counts[0]
    drops = [b - a for a, b in zip(counts, counts[1:], strict=False) if b < a]
    assert drops, "a saw-tooth: the cyclic GC frees them now and then"
    assert max(counts) - base <= peak * 1.5 and max(counts) < LIMIT
    assert max(counts) - base >= min(peak, rate * n) * 0.3  # it does pile up between collections
    _flat_with_gc(entry, tmp_path, extra)


def _bounded(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    plateau = int(entry["plateau"])
    n = min(int(entry.get("invocations", plateau + 40)), plateau + 17)
    samples, _ = _invoke(entry, tmp_path / "run", n, sample="count", **extra)
    assert {s.status for s in samples} == {"ok"}
    counts = _counts(samples)
    tail = counts[plateau + 5 :]
    assert len(tail) >= 10 and max(tail) == min(tail), "flat once the cache is full"
    assert counts[-1] - counts[0] == pytest.approx(plateau, abs=max(3, plateau * 0.1))


def _clean(entry: dict[str, Any], tmp_path: Path, extra: dict[str, Any]) -> None:
    n = min(int(entry.get("invocations", 20)), 20)
    samples, _ = _invoke(
        entry, tmp_path / "run", n, at_least=min(n, 3), seconds=2.0, sample="count", **extra
    )
    assert {s.status for s in samples} == {"ok"}
    counts = _counts(samples)[1:]
    band = int(entry.get("band", 2))
    assert max(counts) - min(counts) <= band, counts
    assert len({s.stream for s in samples}) == 1
