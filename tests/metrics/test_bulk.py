"""The DuckDB bulk path gives the same buckets as the standard-library path, sample for sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

pytest.importorskip("duckdb")  # the query extra's DuckDB (the dev environment has it)

from fdscope.errors import MetricsError  # noqa: E402
from fdscope.metrics import aggregate, build_series, find_series, load_datapoints  # noqa: E402
from fdscope.metrics._bulk import bulk_aggregate  # noqa: E402

STATS = [
    "SampleCount", "Sum", "Average", "Minimum", "Maximum", "p50", "p99", "p99.9", "p0.07",
    "IQM", "TM(10%:90%)", "WM(:95%)", "TC(100:300)", "PR(:250)",
]  # fmt: skip


def _write(path: Path, seed: int, weighted: bool) -> None:
    rng = random.Random(seed)
    t0 = 1_767_225_600_000
    with path.open("w") as f:
        for i in range(400):
            ts = t0 + i * rng.randint(1000, 9000)
            vals = [round(rng.lognormvariate(5, 0.6), 1) for _ in range(rng.randint(1, 30))]
            member: object = vals if len(vals) > 1 else vals[0]
            if weighted and i % 3 == 0:
                member = {"Values": vals, "Counts": [rng.randint(1, 5) for _ in vals]}
            rec = {
                "_aws": {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "fdscope",
                            "Dimensions": [["function_name"]],
                            # high resolution: 30 s periods are allowed
                            "Metrics": [
                                {"Name": "duration", "Unit": "Milliseconds", "StorageResolution": 1}
                            ],
                        }
                    ],
                },
                "function_name": "api",
                "duration": member,
            }
            f.write(json.dumps(rec) + "\n")
            if i % 11 == 0:
                f.write("START RequestId: 1 Version: $LATEST\n")  # not EMF: skipped


@pytest.mark.parametrize(("seed", "weighted", "period"), [(1, False, 60), (2, True, 30)])
def test_bulk_equals_python_path(tmp_path: Path, seed: int, weighted: bool, period: int) -> None:
    path = tmp_path / "emf.log"
    _write(path, seed, weighted)
    series = find_series(build_series(load_datapoints(path)), "duration")
    want = aggregate(series, period, STATS)
    got = bulk_aggregate([path], "duration", period, STATS, namespace="fdscope",
                         dimensions={"function_name": "api"})  # fmt: skip
    assert [b.start for b in got] == [b.start for b in want]
    for g, w in zip(got, want, strict=True):
        assert g.sample_count == w.sample_count
        for name in STATS:
            if w.stats[name] is None:  # nothing inside a trimmed mean's bounds
                assert g.stats[name] is None, name
            elif name in ("Sum", "Average", "IQM", "TM(10%:90%)", "WM(:95%)"):
                assert g.stats[name] == pytest.approx(w.stats[name], rel=1e-9), name
            else:
                assert g.stats[name] == w.stats[name], name


def test_bulk_filters_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "emf.log"
    _write(path, 3, False)
    assert bulk_aggregate([path], "duration", 60, ["Maximum"], namespace="other") == []
    assert (
        bulk_aggregate([path], "duration", 60, ["Maximum"], dimensions={"function_name": "x"}) == []
    )
    with pytest.raises(MetricsError):
        bulk_aggregate([tmp_path / "missing.log"], "duration", 60, ["Maximum"])


def test_cli_engines_agree(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fdscope.cli import cli

    path = tmp_path / "emf.log"
    _write(path, 4, True)
    outs = {}
    for engine in ("python", "duckdb"):
        args = ["alarm", str(path), "--metric", "duration", "--stat", "p90", "--threshold", "250",
                "--evaluation-periods", "2", "--engine", engine, "--format", "json"]  # fmt: skip
        res = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        outs[engine] = json.loads(res.output)
    assert outs["python"] == outs["duckdb"]
    assert {r["state"] for r in outs["python"]["Evaluations"]} >= {"OK", "ALARM"}


def test_cli_plot_with_the_bulk_engine(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fdscope.cli import cli

    path = tmp_path / "emf.log"
    _write(path, 5, False)
    out = tmp_path / "p.svg"
    args = ["plot", str(path), "--metric", "duration", "--stat", "p99", "--threshold", "300",
            "--evaluation-periods", "1", "--engine", "duckdb", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert "<svg" in svg and "threshold 300" in svg and "ALARM" in svg


def _write_prefixed_events(path: Path, seed: int) -> None:
    """Log events (as `logs pull` writes them) whose messages carry Lambda's text prefix."""
    rng = random.Random(seed)
    t0 = 1_767_225_600_000
    with path.open("w") as f:
        for i in range(300):
            ts = t0 + i * rng.randint(1000, 9000)
            rec = {
                "_aws": {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "fdscope",
                            "Dimensions": [["function_name"]],
                            "Metrics": [{"Name": "duration", "Unit": "Milliseconds"}],
                        }
                    ],
                },
                "function_name": "api",
                "duration": [round(rng.lognormvariate(5, 0.6), 1) for _ in range(3)],
            }
            doc = json.dumps(rec)
            if i % 3 == 0:  # Node console.log: <ISO>\t<request id>\tINFO\t{...}
                msg = f"2026-01-01T00:00:00.000Z\treq-{i}\tINFO\t{doc}\n"
            elif i % 3 == 1:  # Python logging in the Lambda runtime: [INFO]\t<ISO>\t<id>\t{...}
                msg = f"[INFO]\t2026-01-01T00:00:00.000Z\treq-{i}\t{doc}\n"
            else:
                msg = doc + "\n"
            f.write(json.dumps({"timestamp": ts, "message": msg, "logStreamName": "s"}) + "\n")
            f.write(json.dumps({"timestamp": ts, "message": f"END RequestId: req-{i}\n"}) + "\n")


def test_bulk_reads_emf_after_a_lambda_text_prefix(tmp_path: Path) -> None:
    path = tmp_path / "pulled.jsonl"
    _write_prefixed_events(path, 6)
    series = find_series(build_series(load_datapoints(path)), "duration")
    assert len(series) == 900  # the standard-library parser reads every record
    want = aggregate(series, 60, ["SampleCount", "Maximum", "p99"])
    got = bulk_aggregate([path], "duration", 60, ["SampleCount", "Maximum", "p99"])
    assert [(b.start, b.sample_count, b.stats) for b in got] == [
        (b.start, b.sample_count, b.stats) for b in want
    ]
