"""``fdscope metrics`` / ``alarm`` / ``plot``: statistics, alarms and charts from EMF logs."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.cli._common import (
    DIMENSIONS,
    aws_options,
    deprecated_option,
    dimensions_dict,
    stdout_console,
    time_range_options,
)
from fdscope.cli._output import check_new_file, force_option

with extra("cli"):
    import click

_COMPARISONS = [
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    ">",
    ">=",
    "<",
    "<=",
]


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # outside the years 1-9999: the number itself
        return f"{ms} ms"


def _dims(values: Any) -> dict[str, str] | None:
    return dimensions_dict(values)


def _statistic(statistic: str | None, extended: str | None) -> str:
    """``--statistic`` or ``--extended-statistic`` (as PutMetricAlarm: one of them)."""
    if statistic and extended:
        raise click.UsageError("give --statistic or --extended-statistic, not both")
    return extended or statistic or "Maximum"


_REASONS = {
    "not_json": "not JSON",
    "not_an_object": "not a JSON object",
    "target": "bad metric or dimension member",
}


def skipped_note(pstats: Any, read_stats: Any = None) -> str | None:
    """``skipped 3 invalid EMF record(s): not JSON 1, _aws.Timestamp 2``, the files that held
    them, and what the log reader skipped (NUL runs, a cut .gz), or None."""
    from fdscope.logs import describe_skipped

    reasons = pstats.parsing_errors + pstats.validation_errors
    lines: list[str] = []
    if reasons:
        why = ", ".join(f"{_REASONS.get(k, k)} {v}" for k, v in reasons.most_common())
        lines.append(
            f"skipped {sum(reasons.values())} invalid EMF record(s) ({why}); "
            "CloudWatch rejects them too (EMFParsingErrors/EMFValidationErrors)"
        )
        for path, c in sorted(getattr(pstats, "by_file", {}).items()):
            lines.append(
                f"  {path}: " + ", ".join(f"{_REASONS.get(k, k)} {v}" for k, v in c.items())
            )
    if read_stats is not None:
        logs_note = describe_skipped(read_stats.summary())
        if logs_note:
            lines.append(logs_note)
    return "\n".join(lines) or None


@dataclass
class Skipped:
    """What a command's readers skipped, for its ``--output json`` (stderr says it too).

    ``json()`` is ``{"skipped": {reason: n}, "skipped_files": {file: {reason: n}},
    "stopped": {file: where}}``, the keys of ``triage --json``, empty when nothing was.
    """

    reasons: Counter[str] = field(default_factory=Counter)
    files: dict[str, Counter[str]] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)

    def add(self, counts: Mapping[str, int], by_file: Mapping[str, Mapping[str, int]]) -> None:
        self.reasons.update(counts)
        for path, c in by_file.items():
            self.files.setdefault(str(path), Counter()).update(c)

    def json(self) -> dict[str, Any]:
        return {
            "skipped": dict(sorted(self.reasons.items())),
            "skipped_files": {
                f: dict(sorted(c.items())) for f, c in sorted(self.files.items()) if c
            },
            "stopped": dict(sorted(self.stopped.items())),
        }


def _units_note(series: list[Any]) -> None:
    """Warn once per series sent with several units: its statistics mix them."""
    for s in series:
        units = getattr(s, "units", None)
        if units:
            mix = ", ".join(f"{u} {n}" for u, n in units.items())
            click.echo(
                f"warning: {s.key.label()} was sent with {len(units)} units ({mix}): its "
                "statistics here mix them, while CloudWatch keeps each unit's data apart",
                err=True,
            )


def _series(
    sources: tuple[Path, ...], start: int | None, end: int | None, seen: Skipped | None = None
) -> list[Any]:
    from fdscope.emf import ParseStats
    from fdscope.logs import ReadStats
    from fdscope.metrics import build_series, load_datapoints

    if not sources:
        raise click.UsageError("give at least one log file, directory or run directory")
    pstats = ParseStats()
    rstats = ReadStats()
    points = load_datapoints(*sources, start=start, end=end, parse_stats=pstats, read_stats=rstats)
    note = skipped_note(pstats, rstats)
    if note:
        click.echo(note, err=True)
    if seen is not None:
        seen.add(pstats.parsing_errors + pstats.validation_errors, pstats.by_file)
        seen.add(rstats.malformed, rstats.by_file)
        seen.stopped.update(rstats.stopped)
    series = build_series(points)
    _units_note(series)
    return series


def _bulk(
    sources: tuple[Path, ...],
    metric: str,
    period: int,
    names: list[str],
    seen: Skipped | None = None,
    **kw: Any,
) -> Any:
    """bulk_aggregate, saying on stderr what it left out (times out of range, in seconds)."""
    from fdscope.metrics import bulk_aggregate

    skipped: Counter[str] = Counter()
    buckets = bulk_aggregate(sources, metric, period, names, skipped=skipped, **kw)
    if skipped:
        why = ", ".join(f"{k} {v}" for k, v in skipped.most_common())
        where = ", ".join(str(s) for s in sources)
        click.echo(f"skipped {sum(skipped.values())} EMF value(s) ({why}) in {where}", err=True)
        if seen is not None:  # DuckDB counts over all the sources: they are named together
            seen.add(skipped, {where: skipped})
    return buckets


_BULK_BYTES = 1024 * 1024


def _json_lines(path: Path) -> bool:
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    doc = json.loads(line)  # one whole record or event per line
                    return isinstance(doc, dict) and ("_aws" in doc or "message" in doc)
    except (OSError, ValueError):
        return False
    return True


def _use_bulk(engine: str, sources: tuple[Path, ...]) -> bool:
    """duckdb when asked, or (auto) for JSON-lines sources above 1 MB with duckdb installed."""
    if engine != "auto":
        return engine == "duckdb"
    files: list[Path] = []
    for src in sources:
        files += [src] if src.is_file() else [f for f in src.rglob("*") if f.is_file()]
    if sum(f.stat().st_size for f in files) < _BULK_BYTES:
        return False
    if not all(_json_lines(f) for f in files if not f.name.startswith(".")):
        return False  # text formats (aws logs tail, raw stdout) need the standard-library reader
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


_engine_option = click.option(
    "--engine",
    type=click.Choice(["auto", "python", "duckdb"]),
    default="auto",
    show_default=True,
    help="python: the standard-library EMF parser; duckdb: the bulk path for big files "
    "(bare EMF lines or JSON log events); auto: duckdb for JSON lines above 1 MB.",
)


_output_option = click.option(
    "--output",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format (table: the full width when piped).",
)


def _pick(series: list[Any], metric: str, namespace: str | None, dims: dict | None) -> Any:
    from fdscope.metrics import find_series

    return find_series(series, metric, namespace=namespace, dimensions=dims)


def _emit(
    rows: list[dict[str, Any]],
    columns: list[str],
    fmt: str,
    title: str = "",
    *,
    doc: Mapping[str, Any] | None = None,
    key: str = "Datapoints",
    seen: Skipped | None = None,
) -> None:
    """Rows as a table, CSV, or (json) one object: ``doc``'s members, the rows under ``key``,
    and what was skipped (``Skipped.json()``, always present)."""
    if fmt == "json":
        out = {**(doc or {}), key: rows, **(seen or Skipped()).json()}
        click.echo(json.dumps(out, indent=2))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    with extra("cli"):
        from rich.table import Table

    table = Table(title=title or None)
    for c in columns:
        table.add_column(c, justify="left" if c in ("series", "time", "unit") else "right")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else _cell(r[c]) for c in columns))
    stdout_console().print(table)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


_common_metric_options = [
    click.option(
        "--metric-name", "--metric", "metric", help="Metric name (e.g. fd_use, duration)."
    ),
    click.option("--namespace", help="Only this namespace (e.g. fdscope, LambdaInsights)."),
    click.option(
        "--dimensions",
        "--dimension",
        "dimension",
        type=DIMENSIONS,
        multiple=True,
        help="Name=NAME,Value=VALUE (the AWS CLI's shorthand; several separated by spaces), "
        'its JSON form [{"Name": ..., "Value": ...}], or NAME=VALUE (repeatable).',
    ),
    click.option(
        "--period",
        type=int,
        default=60,
        show_default=True,
        help="Seconds: 1, 5, 10, 20, 30 (high-resolution metrics only), n*60.",
    ),
]


def _with(options: list[Any]) -> Any:
    def deco(f: Any) -> Any:
        for o in reversed(options):
            f = o(f)
        return f

    return deco


@click.command("metrics")
@click.argument("sources", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_with(_common_metric_options)
@click.option(
    "--statistics",
    "--stat",
    "stats",
    multiple=True,
    help="Statistic (repeatable): SampleCount Sum Average Minimum Maximum.",
)
@click.option(
    "--extended-statistics",
    "extended_stats",
    multiple=True,
    help="Percentile and trimmed statistics (repeatable): pNN, IQM, TM(a:b), WM, TC, TS ...",
)
@_output_option
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every series, also the members of an EMF record never declared as metrics.",
)
@_engine_option
@click.option("--put", is_flag=True, help="Send the series to CloudWatch (PutMetricData).")
@click.option("--put-namespace", help="Namespace to send to (default: the series' own).")
@aws_options
@time_range_options
def metrics(
    sources: tuple[Path, ...],
    metric: str | None,
    namespace: str | None,
    dimension: tuple[Any, ...],
    period: int,
    stats: tuple[str, ...],
    extended_stats: tuple[str, ...],
    fmt: str,
    show_all: bool,
    engine: str,
    put: bool,
    put_namespace: str | None,
    region: str | None,
    endpoint_url: str | None,
    start: int | None,
    end: int | None,
) -> None:
    """List the metrics declared in EMF logs (--all: every member), or a metric's
    statistics per period.

    Example (the AWS CLI's words): fdscope metrics logs/ --metric-name fd_use
    --dimensions Name=function_name,Value=api --statistics Maximum --period 60
    """
    from fdscope.metrics import (
        aggregate,
        check_period,
        parse_statistic,
        put_metric_data,
    )

    check_period(period)
    asked = (*stats, *extended_stats) or ("SampleCount", "Average", "Maximum")
    names = [parse_statistic(s).name for s in asked]
    seen = Skipped()
    if metric and not put and _use_bulk(engine, sources):
        buckets = _bulk(sources, metric, period, names, seen, namespace=namespace,
                        dimensions=_dims(dimension), start=start, end=end)  # fmt: skip
        rows = [{"time": _iso(b.start), "samples": b.sample_count, **b.stats} for b in buckets]
        _emit(rows, ["time", "samples", *names], fmt, title=f"{metric} per {period}s",
              doc={"Label": metric}, seen=seen)  # fmt: skip
        return
    all_series = _series(sources, start, end, seen)
    dims = _dims(dimension)
    if put:
        chosen = (
            [_pick(all_series, metric, namespace, dims)]
            if metric
            else [s for s in all_series if namespace is None or s.key.namespace == namespace]
        )
        sent = sum(
            put_metric_data(s, namespace=put_namespace, region=region, endpoint_url=endpoint_url)
            for s in chosen
        )
        click.echo(f"sent {sent} datapoints in {len(chosen)} series with PutMetricData")
        return
    if not metric:
        listed = [
            s
            for s in all_series
            if (namespace is None or s.key.namespace == namespace) and (show_all or s.declared)
        ]
        hidden = sum(
            1
            for s in all_series
            if (namespace is None or s.key.namespace == namespace) and not s.declared
        )
        rows = [
            {
                "series": s.key.label(),
                "samples": len(s),
                "first": _iso(s.timestamps[0]),
                "last": _iso(s.timestamps[-1]),
                "unit": "+".join(s.units) if s.units else s.unit or "",
                "declared": s.declared,
            }
            for s in listed
        ]
        _emit(rows, ["series", "samples", "first", "last", "unit", "declared"], fmt,
              key="Metrics", seen=seen)  # fmt: skip
        if not all_series:
            click.echo(
                "fdscope: no EMF records (JSON lines with an _aws member) in "
                + ", ".join(str(p) for p in sources),
                err=True,
            )
        if hidden and not show_all:
            click.echo(
                f"fdscope: {hidden} member series not declared as metrics not listed "
                "(--all lists them; --metric-name NAME charts any)",
                err=True,
            )
        return
    s = _pick(all_series, metric, namespace, dims)
    rows = [
        {"time": _iso(b.start), "samples": b.sample_count, **b.stats}
        for b in aggregate(s, period, names, start=start, end=end)
    ]
    _emit(rows, ["time", "samples", *names], fmt, title=f"{s.key.label()} per {period}s",
          doc={"Label": metric}, seen=seen)  # fmt: skip


def _rule_options(f: Any) -> Any:
    opts = [
        click.option(
            "--statistic",
            "--stat",
            "stat",
            default=None,
            help="SampleCount, Average, Sum, Minimum or Maximum (default Maximum).",
        ),
        click.option(
            "--extended-statistic",
            "extended_statistic",
            default=None,
            help="A percentile or trimmed statistic instead: p99, TM(10%:90%), IQM ...",
        ),
        click.option("--threshold", type=float, help="Alarm threshold."),
        click.option(
            "--evaluation-periods",
            type=int,
            default=3,
            show_default=True,
            help="N: periods evaluated.",
        ),
        deprecated_option("-n", "evaluation_periods", "--evaluation-periods", type=int),
        click.option(
            "-m", "--datapoints-to-alarm", type=int, help="M: breaching periods to alarm (N)."
        ),
        click.option(
            "--comparison-operator",
            "--comparison",
            "comparison",
            type=click.Choice(_COMPARISONS),
            default="GreaterThanThreshold",
            show_default=True,
        ),
        click.option(
            "--treat-missing-data",
            type=click.Choice(["missing", "ignore", "breaching", "notBreaching"]),
            default="missing",
            show_default=True,
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _rule(stat: str, threshold: float | None, n: int, m: int | None, comp: str, treat: str,
          period: int) -> Any:  # fmt: skip
    from fdscope.metrics import AlarmRule

    return AlarmRule(
        threshold=0.0 if threshold is None else threshold,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        comparison=comp,
        treat_missing_data=treat,
        period=period,
        statistic=stat,
    )


def _mn(text: str | None) -> list[tuple[int, int]] | None:
    if not text:
        return None
    out = []
    for part in text.split(","):
        m, sep, n = part.strip().partition("/")
        if not sep:
            raise click.BadParameter(f"{part!r}: use M/N, e.g. 3/3,2/3", param_hint="--mn")
        out.append((int(m), int(n)))
    return out


@click.command("alarm")
@click.argument("sources", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_with(_common_metric_options)
@_rule_options
@click.option("--sweep", "do_sweep", is_flag=True, help="What-if: alarms per day per setting.")
@click.option("--thresholds", help="Comma-separated thresholds for --sweep (default: quantiles).")
@click.option("--mn", help="M/N settings for --sweep, e.g. 3/3,2/3,1/1.")
@click.option(
    "--max-per-day", type=float, default=1.0, show_default=True, help="Acceptable alarms a day."
)
@_engine_option
@click.option("--deploy", is_flag=True, help="Create the alarm in CloudWatch (PutMetricAlarm).")
@click.option("--alarm-name", help="Name of the alarm for --deploy.")
@aws_options
@_output_option
@time_range_options
def alarm(
    sources: tuple[Path, ...],
    metric: str | None,
    namespace: str | None,
    dimension: tuple[Any, ...],
    period: int,
    stat: str | None,
    extended_statistic: str | None,
    threshold: float | None,
    evaluation_periods: int,
    datapoints_to_alarm: int | None,
    comparison: str,
    treat_missing_data: str,
    do_sweep: bool,
    thresholds: str | None,
    mn: str | None,
    max_per_day: float,
    engine: str,
    deploy: bool,
    alarm_name: str | None,
    region: str | None,
    endpoint_url: str | None,
    fmt: str,
    start: int | None,
    end: int | None,
) -> None:
    """Replay a CloudWatch alarm over recorded EMF metrics; --sweep; --deploy it.

    The options are put-metric-alarm's: fdscope alarm logs/ --metric-name fd_use
    --namespace fdscope --statistic Maximum --period 60 --threshold 800
    --comparison-operator GreaterThanThreshold --dimensions Name=function_name,Value=api
    --evaluation-periods 3 --datapoints-to-alarm 2 --treat-missing-data notBreaching
    """
    from fdscope.metrics import (
        evaluate,
        history_from_buckets,
        put_metric_alarm,
        sweep,
        sweep_caveat,
    )

    metric = metric or "fd_use"
    stat = _statistic(stat, extended_statistic)
    if threshold is None and not do_sweep:
        raise click.UsageError("give --threshold (or --sweep to try several)")
    rule = _rule(
        stat, threshold, evaluation_periods, datapoints_to_alarm, comparison, treat_missing_data,
        period,
    )  # fmt: skip
    dims = _dims(dimension)
    if deploy:
        if threshold is None:
            raise click.UsageError("--deploy needs --threshold")
        name = alarm_name or f"fdscope-{metric}-{rule.statistic}-{int(rule.threshold)}"
        ns = namespace or "fdscope"
        put_metric_alarm(
            rule,
            name=name,
            namespace=ns,
            metric=metric,
            dimensions=dims,
            region=region,
            endpoint_url=endpoint_url,
        )
        click.echo(f"alarm {name!r} put: {ns}/{metric} {rule.statistic} {rule.comparison} "
                   f"{rule.threshold:g}, {rule.m} of {rule.n} x {rule.period}s, "
                   f"missing data: {rule.treat_missing_data}")  # fmt: skip
        if not sources:
            return
    seen = Skipped()
    if not do_sweep and rule.period <= 60 and _use_bulk(engine, sources):
        buckets = _bulk(sources, metric, period, [rule.statistic], seen, namespace=namespace,
                        dimensions=dims, start=start, end=end)  # fmt: skip
        _report(history_from_buckets(buckets, rule, start=start, end=end), metric, fmt, seen)
        return
    s = _pick(_series(sources, start, end, seen), metric, namespace, dims)
    if do_sweep:
        ths = [float(t) for t in thresholds.split(",")] if thresholds else None
        given = () if threshold is None else (threshold,)  # --threshold is one of the rows
        rows = sweep(s, rule, ths, _mn(mn), start=start, end=end, extra_thresholds=given)
        caveat = sweep_caveat(rows, period)  # too little data: how little, what it cannot tell
        out = [
            {
                "threshold": r.threshold,
                "M/N": f"{r.datapoints_to_alarm}/{r.evaluation_periods}",
                "alarms": r.alarms,
                "per_day": round(r.alarms_per_day, 3),
                "time_in_alarm": round(r.time_in_alarm, 4),
            }
            for r in rows
        ]
        _emit(out, ["threshold", "M/N", "alarms", "per_day", "time_in_alarm"], fmt,
              title=f"{s.key.label()} {rule.statistic} per {period}s: what if",
              key="Sweep", seen=seen)  # fmt: skip
        if fmt == "table":
            below = rule.comparison.startswith("Less")
            ok = [r for r in rows if r.alarms_per_day <= max_per_day]
            if ok:
                best = (
                    max(ok, key=lambda r: r.threshold)
                    if below
                    else min(ok, key=lambda r: r.threshold)
                )
                click.echo(
                    f"tightest threshold at <= {max_per_day:g} alarms/day: {best.threshold:g} "
                    f"({best.datapoints_to_alarm}/{best.evaluation_periods})"
                    + (" - an extrapolation, see the warning" if caveat else "")
                )
            else:
                click.echo(f"no setting tried stays at <= {max_per_day:g} alarms/day")
        if caveat:
            click.secho(f"warning: {caveat}", fg="yellow", err=True)
        return
    _report(evaluate(s, rule, start=start, end=end), s.key.label(), fmt, seen)


def _report(hist: Any, label: str, fmt: str, seen: Skipped | None = None) -> None:
    rule = hist.rule
    if fmt != "table":
        rows = [
            {"time": _iso(e.time), "state": e.state, "value": e.value} for e in hist.evaluations
        ]
        _emit(rows, ["time", "state", "value"], fmt, key="Evaluations", seen=seen)
        return
    days = len(hist.evaluations) * rule.step / 86_400 or 1.0
    click.echo(
        f"{label} {rule.statistic} per {rule.period}s {rule.comparison} {rule.threshold:g}, "
        f"{rule.m} of {rule.n}, missing data {rule.treat_missing_data}: "
        f"{len(hist.evaluations)} evaluations, {hist.alarms} alarms "
        f"({hist.alarms / days:.2f}/day), {hist.time_in_alarm():.1%} of the time in ALARM"
    )
    for t in hist.transitions:
        click.echo(f"  {_iso(t.time)}  {t.old} -> {t.new}")


@click.command("plot")
@click.argument("sources", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_with(_common_metric_options)
@_rule_options
@click.option("--out", type=click.Path(path_type=Path), help="PNG or SVG file to write.")
@deprecated_option("-o", "out", "--out", type=click.Path(path_type=Path))
@click.option("--terminal", is_flag=True, help="Print a compact chart instead of a file.")
@click.option("--limit", type=float, help="Draw this limit as a line (e.g. 1024 descriptors).")
@force_option
@_engine_option
@time_range_options
def plot(  # noqa: C901
    sources: tuple[Path, ...],
    metric: str | None,
    namespace: str | None,
    dimension: tuple[Any, ...],
    period: int,
    stat: str | None,
    extended_statistic: str | None,
    threshold: float | None,
    evaluation_periods: int,
    datapoints_to_alarm: int | None,
    comparison: str,
    treat_missing_data: str,
    out: Path | None,
    terminal: bool,
    limit: float | None,
    force: bool,
    engine: str,
    start: int | None,
    end: int | None,
) -> None:
    """Chart a statistic over time (threshold, ALARM shaded); a run directory by invocation.

    A file that exists (the doctor's fd_use.png too) is replaced only with --force.
    """
    from fdscope.errors import MetricsError
    from fdscope.metrics import (
        aggregate,
        bulk_aggregate,
        evaluate,
        history_from_buckets,
        parse_statistic,
    )
    from fdscope.metrics.plot import metric_chart, run_chart, terminal_chart

    if len(sources) == 1 and (sources[0] / "samples.jsonl").is_file() and metric is None:
        from fdscope.local import RunLock, check_run_dir

        run_dir = sources[0]
        check_run_dir(run_dir)  # refuses rows of another run (and a run being written)
        samples = [
            json.loads(line)
            for line in (run_dir / "samples.jsonl").read_text().splitlines()
            if line.strip()
        ]
        run_info: dict[str, Any] = {}
        if (run_dir / "run.json").is_file():
            run_info = json.loads((run_dir / "run.json").read_text())
        lim = (
            limit
            or run_info.get("fd_limit")
            or max([int(r.get("fd_limit") or 0) for r in samples] + [1024])
        )
        if terminal:
            click.echo(terminal_chart([r.get("fd_count") for r in samples], limit=lim))
            return
        target = out or run_dir / "fd_use.png"
        check_new_file(target, force, "the run's picture" if out is None else "")
        # into the run directory: under its lock, so no run starts writing meanwhile
        with RunLock(run_dir, "fdscope plot") if out is None else contextlib.nullcontext():
            run_chart(samples, int(lim), target, title=f"{run_info.get('handler', run_dir.name)}")
        click.echo(f"wrote {target}")
        return
    metric = metric or "fd_use"
    stat = _statistic(stat, extended_statistic)
    name = parse_statistic(stat).name
    dims = _dims(dimension)
    rule = None
    if threshold is not None:
        rule = _rule(
            stat, threshold, evaluation_periods, datapoints_to_alarm, comparison,
            treat_missing_data, period,
        )  # fmt: skip
    ranges: list[tuple[int, int]] = []
    bulk = _use_bulk(engine, sources)
    if bulk:
        kw: dict[str, Any] = {
            "namespace": namespace,
            "dimensions": dims,
            "start": start,
            "end": end,
        }
        buckets = _bulk(sources, metric, period, [name], **kw)
        label, unit = metric, None
        if limit is None and metric == "fd_use":
            caps = bulk_aggregate(sources, "fd_max", period, ["Maximum"], **kw)
            limit = max((b.stats["Maximum"] or 0.0 for b in caps), default=None) or None
        if rule is not None and rule.period <= 60:
            ranges = history_from_buckets(buckets, rule, start=start, end=end).alarm_ranges()
        elif rule is not None:
            s = _pick(_series(sources, start, end), metric, namespace, dims)
            ranges = evaluate(s, rule, start=start, end=end).alarm_ranges()
    else:
        all_series = _series(sources, start, end)
        s = _pick(all_series, metric, namespace, dims)
        label, unit = s.key.label(), s.unit
        if limit is None and metric == "fd_use":
            # Lambda Insights and the monitor record the limit next to the use
            fd_max = [x for x in all_series if x.key.metric == "fd_max" and x.values]
            same = [x for x in fd_max if x.key.dimensions == s.key.dimensions] or fd_max
            if same:
                limit = max(same[0].values)
        buckets = aggregate(s, period, [name], start=start, end=end)
        if rule is not None:
            ranges = evaluate(s, rule, start=start, end=end).alarm_ranges()
    # ALARM from the evaluation that went into it (its time t judges the period ending
    # at t): the state holds from t, not from the period's start
    points: list[tuple[float, float]] = []
    for b in buckets:
        v = b.stats[name]
        if v is not None:
            points.append((b.start, v))
    if terminal:
        if not points:
            raise MetricsError(f"no datapoints to chart: {label} {name} has none per {period}s")
        click.echo(f"{label} {name} per {period}s")
        click.echo(terminal_chart([v for _, v in points], limit=limit or threshold))
        return
    target = out or Path(f"{metric}.png")
    check_new_file(target, force)
    failed = set() if bulk else _failure_periods(sources, period, start, end)
    metric_chart(
        points,
        target,
        threshold=threshold,
        alarm_ranges=ranges,
        failures=[t for t, _ in points if t in failed],
        limit=limit,
        title=f"{label} {name} per {period}s",
        ylabel=unit or metric,
        line_label=f"{metric} {name} per {period}s",
    )
    click.echo(f"wrote {target}")


_FAILURE_MARKS = ("Task timed out", "Too many open files", "EMFILE", "Errno 24")


def _failure_periods(
    sources: tuple[Path, ...], period: int, start: int | None, end: int | None
) -> set[int]:
    """Starts of the periods whose logs show a timeout or EMFILE (empty for bare EMF files)."""
    from fdscope.errors import FdscopeError
    from fdscope.logs import read_events

    p = period * 1000
    out: set[int] = set()
    try:
        for ev in read_events(*sources):
            if (start is not None and ev.timestamp < start) or (
                end is not None and ev.timestamp >= end
            ):
                continue
            if any(mark in ev.message for mark in _FAILURE_MARKS):
                out.add(ev.timestamp - ev.timestamp % p)
    except FdscopeError:
        return set()
    return out
