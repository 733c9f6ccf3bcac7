"""Issue 16 item 7: tables whole when piped, ``metrics`` lists what was declared, the
alarm chart names its statistic and shades ALARM from the evaluation time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fdscope.cli import cli

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LONG = "orders-" + "x" * 240  # a dimension value longer than any terminal


def _emf(path: Path, minutes: int = 30, value: Any = None) -> None:
    """One record a minute: fd_use declared (unit Count), duration a member only."""
    with path.open("w") as f:
        for i in range(minutes):
            rec = {
                "_aws": {
                    "Timestamp": T0 + i * 60_000,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "fdscope",
                            "Dimensions": [["function_name"]],
                            "Metrics": [{"Name": "fd_use", "Unit": "Count"}],
                        }
                    ],
                },
                "function_name": LONG,
                "fd_use": float(value(i) if value else i),
                "duration": 12.5,
            }
            f.write(json.dumps(rec) + "\n")


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip


def test_tables_are_whole_when_piped(tmp_path: Path) -> None:
    logs = tmp_path / "emf.log"
    _emf(logs)
    res = _piped("metrics", str(logs))
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if LONG in line]
    assert len(rows) == 1 and "30" in rows[0] and "Count" in rows[0]  # one row, one line
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"timestamp": T0 + i, "message": f"{i} {LONG}"}) + "\n" for i in range(3)
        )
    )
    res = _piped("query", "fields @message", str(events))
    assert res.returncode == 0, res.stderr
    assert sum(LONG in line for line in res.stdout.splitlines()) == 3


def test_metrics_lists_declared_metrics_and_members_with_all(tmp_path: Path) -> None:
    logs = tmp_path / "emf.log"
    _emf(logs)
    res = CliRunner().invoke(cli, ["metrics", str(logs), "--output", "json"])
    assert res.exit_code == 0, res.output
    assert [r["series"].split("{")[0] for r in json.loads(res.stdout)["Metrics"]] == [
        "fdscope/fd_use"
    ]
    assert "1 member series not declared" in res.stderr and "--all" in res.stderr
    res = CliRunner().invoke(cli, ["metrics", str(logs), "--output", "json", "--all"])
    listed = {r["series"].split("{")[0]: r["declared"] for r in json.loads(res.stdout)["Metrics"]}
    assert listed == {"fdscope/fd_use": True, "fdscope/duration": False}
    assert res.stderr == ""


def test_alarm_chart_names_the_statistic_and_shades_from_the_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.image as mpimg

    import fdscope.metrics.plot as plot_mod
    from fdscope.metrics.plot._mpl import ALARM_COLOR

    logs = tmp_path / "emf.log"
    _emf(logs, minutes=40, value=lambda i: 900 if 20 <= i < 30 else 100)
    rule = ["--metric-name", "fd_use", "--statistic", "Maximum", "--period", "60",
            "--threshold", "800", "--evaluation-periods", "1"]  # fmt: skip
    res = CliRunner().invoke(cli, ["alarm", str(logs), *rule, "--output", "json"])
    evaluations = json.loads(res.stdout)["Evaluations"]
    first = next(e for e in evaluations if e["state"] == "ALARM")
    from datetime import datetime

    t_alarm = datetime.fromisoformat(first["time"].replace("Z", "+00:00")).timestamp() * 1000
    drawn: dict[str, Any] = {}
    real = plot_mod.metric_chart

    def recording(*args: Any, **kwargs: Any) -> Any:  # the real chart, its geometry kept
        drawn["geometry"] = real(*args, **kwargs)
        return drawn["geometry"]

    monkeypatch.setattr(plot_mod, "metric_chart", recording)
    svg, png = tmp_path / "c.svg", tmp_path / "c.png"
    for out in (svg, png):
        res = CliRunner().invoke(cli, ["plot", str(logs), *rule, "--out", str(out)])
        assert res.exit_code == 0, res.output
    text = svg.read_text()
    assert "fd_use Maximum per 60s" in text  # the legend names the statistic
    assert text.count("<!-- Count -->") == 1  # the unit names the y axis only
    geo = drawn["geometry"]
    assert geo.marks["alarm"] == (t_alarm / 86_400_000,)  # from the evaluation time
    img = mpimg.imread(png)
    rgb = tuple(int(ALARM_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def shaded(ms: float) -> bool:
        col, row = geo.pixel(ms / 86_400_000, 450)  # below the line, above the axis
        px = img[int(row), int(col)][:3]
        # alpha 0.6 over white: the ALARM colour blended, not white
        return all(abs(float(px[i]) - (0.6 * rgb[i] + 0.4)) < 0.08 for i in range(3))

    assert shaded(t_alarm + 30_000) and not shaded(t_alarm - 30_000)
