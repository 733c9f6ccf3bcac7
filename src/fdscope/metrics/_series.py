"""Series per metric and dimension set, and statistics per period over them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from fdscope.errors import MetricsError
from fdscope.metrics._stats import Statistic, compute_sorted, parse_statistic, sorted_pairs

STAT_PERIODS = (1, 5, 10, 20, 30)  # and any multiple of 60 (MetricStat.Period)


class _Point(Protocol):
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    timestamp: int
    value: float
    count: float
    unit: str | None
    declared: bool


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What identifies a CloudWatch metric: namespace, name and dimensions (sorted pairs)."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        """``namespace/metric{k=v,...}`` for tables and chart titles."""
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}/{self.metric}" + (f"{{{dims}}}" if dims else "")


@dataclass(frozen=True)
class Series:
    """The samples of one metric, sorted by time: parallel lists of ms, value and weight."""

    key: SeriesKey
    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    unit: str | None = None
    declared: bool = True
    resolution: int | None = None  # 1 (high) or 60 (standard) from EMF; None: not known
    # samples per unit when they were sent with more than one (CloudWatch keeps them apart:
    # a statistic asked with a Unit sees only those): {} when one unit or none
    units: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True)
class Bucket:
    """One period of a series: its start (ms), samples (sum of weights) and statistic values."""

    start: int
    sample_count: float
    stats: dict[str, float | None]


def check_period(period: int) -> int:
    """``period`` in seconds if CloudWatch accepts it (1, 5, 10, 20, 30, n*60); else MetricsError."""
    if isinstance(period, bool) or not isinstance(period, int):
        raise MetricsError(f"period must be whole seconds, not {period!r}")
    if period in STAT_PERIODS or (period > 0 and period % 60 == 0):
        return period
    raise MetricsError(f"period {period}s: use 1, 5, 10, 20, 30 or a multiple of 60 seconds")


def check_resolution(series: Series, period: int) -> None:
    """MetricsError when ``period`` is under a minute and ``series`` is standard resolution.

    CloudWatch (MetricStat.Period): "For metrics with regular resolution, a period can
    be as short as one minute (60 seconds) and must be a multiple of 60"; only metrics
    sent with StorageResolution 1 have 1, 5, 10, 20 and 30 s periods, and an alarm of
    10/20/30 s on a standard metric gets no data (INSUFFICIENT_DATA).
    """
    if period < 60 and series.resolution == 60:
        raise MetricsError(
            f"{series.key.label()} is a standard-resolution metric (no StorageResolution 1):"
            f" CloudWatch keeps it per minute, so a {period}s period has no datapoints there;"
            " use a period of 60 s or a multiple"
        )


def bucket_start(timestamp_ms: int, period: int) -> int:
    """Start (ms) of the period holding ``timestamp_ms``; periods are aligned to the epoch."""
    p = period * 1000
    return timestamp_ms - timestamp_ms % p


def build_series(datapoints: Iterable[_Point]) -> list[Series]:
    """Group datapoints into series (one per namespace, metric, dimensions), sorted by key."""
    # plain tuples as keys while grouping (hashing a dataclass per datapoint is slow)
    groups: dict[tuple, tuple[list[int], list[float], list[float], list]] = {}
    for dp in datapoints:
        raw = (dp.namespace, dp.metric, tuple(dp.dimensions.items()))
        g = groups.get(raw)
        if g is None:
            g = groups[raw] = ([], [], [], [dp.unit, dp.declared, 60, Counter()])
        g[3][3][dp.unit] += 1
        g[0].append(dp.timestamp)
        g[1].append(dp.value)
        g[2].append(dp.count)
        if g[3][0] is None and dp.unit:
            g[3][0] = dp.unit
        if getattr(dp, "resolution", 60) == 1:
            g[3][2] = 1
    merged: dict[SeriesKey, list[tuple[list[int], list[float], list[float], list]]] = {}
    for (ns, metric, dims), g in groups.items():
        merged.setdefault(SeriesKey(ns, metric, tuple(sorted(dims))), []).append(g)
    out = []
    for key in sorted(merged):
        parts = merged[key]
        ts = [int(t) for g in parts for t in g[0]]
        vs = [float(v) for g in parts for v in g[1]]
        cs = [float(c) for g in parts for c in g[2]]
        if len(parts) > 1 or any(a > b for a, b in zip(ts, ts[1:], strict=False)):
            order = sorted(range(len(ts)), key=ts.__getitem__)
            ts, vs, cs = [ts[i] for i in order], [vs[i] for i in order], [cs[i] for i in order]
        unit = next((g[3][0] for g in parts if g[3][0]), None)
        res = min(g[3][2] for g in parts)
        units: Counter[str] = Counter()
        for g in parts:
            units.update(g[3][3])
        mixed = {u or "None": n for u, n in units.most_common()} if len(units) > 1 else {}
        out.append(Series(key, ts, vs, cs, unit, parts[0][3][1], res, mixed))
    return out


def find_series(
    series: Sequence[Series],
    metric: str,
    *,
    namespace: str | None = None,
    dimensions: Mapping[str, str] | None = None,
) -> Series:
    """The one series named ``metric`` (narrowed by namespace and exact dimensions).

    With several candidates and no ``dimensions``, the one with the fewest
    dimensions wins when it is unique.  Raises MetricsError when none or
    several match.
    """
    cands = [
        s
        for s in series
        if s.key.metric == metric
        and (namespace is None or s.key.namespace == namespace)
        and (dimensions is None or dict(s.key.dimensions) == dict(dimensions))
    ]
    if not cands:
        known = sorted({s.key.metric for s in series})
        raise MetricsError(f"no series {metric!r}; known metrics: {', '.join(known) or 'none'}")
    if len(cands) > 1 and dimensions is None:
        fewest = min(len(s.key.dimensions) for s in cands)
        narrow = [s for s in cands if len(s.key.dimensions) == fewest]
        if len(narrow) == 1:
            return narrow[0]
    if len(cands) > 1:
        raise MetricsError(
            f"{len(cands)} series match {metric!r}; pick one with --namespace/--dimension: "
            + "; ".join(s.key.label() for s in cands[:8])
        )
    return cands[0]


def iter_buckets(
    series: Series, period: int, start: int | None = None, end: int | None = None
) -> Iterator[tuple[int, list[float], list[float]]]:
    """(bucket start, values, counts) per non-empty period, oldest first, within [start, end)."""
    check_period(period)
    p = period * 1000
    cur: int | None = None
    vals: list[float] = []
    cnts: list[float] = []
    for ts, v, c in zip(series.timestamps, series.values, series.counts, strict=True):
        if (start is not None and ts < start) or (end is not None and ts >= end):
            continue
        b = ts - ts % p
        if b != cur:
            if cur is not None:
                yield cur, vals, cnts
            cur, vals, cnts = b, [], []
        vals.append(v)
        cnts.append(c)
    if cur is not None:
        yield cur, vals, cnts


def aggregate(
    series: Series,
    period: int,
    statistics: Sequence[str | Statistic],
    *,
    start: int | None = None,
    end: int | None = None,
) -> list[Bucket]:
    """Statistics of ``series`` per ``period`` seconds, one Bucket per period with samples.

    A period whose values all have a count of 0 holds no sample and gives no Bucket.

    Buckets are stamped with their start (ms) and aligned to the epoch; ``start``
    and ``end`` (ms, end exclusive) cut samples.  Raises MetricsError for a bad
    period or statistic, or a period under 60 s on a standard-resolution series.
    """
    stats = [parse_statistic(s) if isinstance(s, str) else s for s in statistics]
    check_resolution(series, period)
    out = []
    for b, vals, cnts in iter_buckets(series, period, start, end):
        n = math.fsum(cnts)
        if n <= 0:
            continue  # only Counts of 0: no sample, so no datapoint (as CloudWatch)
        pairs = sorted_pairs(vals, cnts)
        out.append(Bucket(b, n, {s.name: compute_sorted(s, pairs) for s in stats}))
    return out


def _files_of(src: Path) -> list[Path]:
    if src.is_dir() and not (src / "events.jsonl").is_file():
        return sorted(
            f
            for f in src.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(src).parts)
        )
    return [src]


def _starts_with_bare_emf(path: Path) -> bool:
    """True when the first non-blank line is an EMF document itself (no log-event framing)."""
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.lstrip().startswith('{"_aws"')
    except OSError:
        return False
    return False


def _raw_emf_lines(path: Path, parse_stats: Any) -> list[Any]:
    """Datapoints of a file of bare EMF records (one JSON document per line, as stdout holds)."""
    import gzip

    from fdscope.emf import parse_message

    opener: Any = gzip.open if path.suffix == ".gz" else open
    out: list[Any] = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            out += parse_message(line, parse_stats)
    return out


def load_datapoints(
    *sources: str | Path,
    start: int | None = None,
    end: int | None = None,
    include_undeclared: bool = True,
    read_stats: Any = None,
    parse_stats: Any = None,
) -> list[Any]:
    """EMF datapoints of log files, directories and run directories, within [start, end).

    Reads with :func:`fdscope.logs.read_events` and parses with
    :func:`fdscope.emf.parse_events`; a file of bare EMF records (no log-event
    framing, as the monitor prints them) is parsed line by line.  Bad lines and
    records are counted in ``read_stats``/``parse_stats``, never raised.  Raises
    LogReadError when a source cannot be opened at all.
    """
    from fdscope.emf import ParseStats, parse_events
    from fdscope.logs import ReadStats, read_events

    pstats = parse_stats if parse_stats is not None else ParseStats()
    out = []
    for src in sources:
        for path in _files_of(Path(src)):
            rstats = ReadStats()
            bad_before = pstats.parsing_errors + pstats.validation_errors
            if path.is_file() and _starts_with_bare_emf(path):
                found = _raw_emf_lines(path, pstats)
                rstats.files += 1
            else:
                found = list(parse_events(cast(Any, read_events(path, stats=rstats)), pstats))
                if not found and rstats.events == 0 and rstats.malformed.get("not-an-event"):
                    found = _raw_emf_lines(path, pstats)
            bad = (pstats.parsing_errors + pstats.validation_errors) - bad_before
            if bad and hasattr(pstats, "by_file"):  # which file held the bad records
                pstats.by_file.setdefault(str(path), Counter()).update(bad)
            if read_stats is not None:
                read_stats.events += rstats.events
                read_stats.files += rstats.files
                read_stats.malformed.update(rstats.malformed)
                for f, c in rstats.by_file.items():
                    read_stats.by_file.setdefault(f, Counter()).update(c)
                read_stats.stopped.update(rstats.stopped)
            for dp in found:
                if (start is not None and dp.timestamp < start) or (
                    end is not None and dp.timestamp >= end
                ):
                    continue
                if not include_undeclared and not dp.declared:
                    continue
                out.append(dp)
    return out
