"""The public surface: sorted __all__, light imports, and untrusted text never crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdscope.metrics
import fdscope.metrics.plot
from fdscope.errors import MetricsError
from fdscope.metrics import parse_statistic


def test_all_is_sorted_and_resolves() -> None:
    for mod in (fdscope.metrics, fdscope.metrics.plot):
        assert mod.__all__ == sorted(mod.__all__)
        for name in mod.__all__:
            assert getattr(mod, name) is not None


def test_importing_metrics_imports_nothing_heavy() -> None:
    code = (
        "import sys, fdscope.metrics, fdscope.metrics.plot;"
        "print(sorted({'duckdb', 'matplotlib', 'boto3', 'pandas'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@given(st.text(max_size=30))
def test_statistic_names_fuzz(text: str) -> None:
    try:
        stat = parse_statistic(text)
    except MetricsError:
        return
    assert parse_statistic(stat.name) == stat  # the canonical name parses to the same thing


emf_like = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda ts, v: json.dumps({"_aws": {"Timestamp": ts, "CloudWatchMetrics": []}, "m": v}),
        st.one_of(st.integers(), st.text(max_size=5), st.none()),
        st.one_of(st.floats(), st.lists(st.floats(), max_size=3), st.text(max_size=5)),
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(emf_like, max_size=12))
def test_reading_garbage_never_crashes(tmp_path: Path, lines: list[str]) -> None:
    from fdscope.metrics import build_series, load_datapoints

    path = tmp_path / "junk.log"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    points = load_datapoints(path)
    for s in build_series(points):
        assert len(s.timestamps) == len(s.values) == len(s.counts)
