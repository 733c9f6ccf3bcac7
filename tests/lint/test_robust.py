"""Untrusted input: mutated sources never crash the checker; a slice of the standard library."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdscope.lint import Config, lint, lint_source

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "lint" / "corpus"
SOURCES = [p.read_text() for p in sorted(CORPUS.glob("*.py"))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SOURCES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.text(max_size=8)), max_size=6
    ),
)
def test_mutated_sources_never_crash(source: str, edits: list[tuple[int, int, str]]) -> None:
    for pos, cut, insert in edits:
        pos %= len(source) + 1
        source = source[:pos] + insert + source[pos + cut :]
    findings = lint_source(source, "mutant.py")
    for f in findings:
        assert f.code.startswith("FDS") and f.line >= 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    findings = lint_source(data)
    assert all(f.line >= 1 for f in findings)


def test_standard_library_slice_without_internal_error() -> None:
    # the whole library runs in bench/lint.py; here every 20th file, for time
    std = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(std.rglob("*.py")) if "site-packages" not in p.parts][::20]
    assert len(files) > 50
    result = lint(files, config=Config())
    assert result.files == len(files)
    assert {f.code for f in result.findings} <= {
        "FDS001",
        "FDS101",
        "FDS102",
        "FDS103",
        "FDS104",
        "FDS105",
        "FDS106",
        "FDS107",
        "FDS108",
        "FDS109",
        "FDS110",
        "FDS201",
        "FDS202",
        "FDS203",
        "FDS204",
        "FDS205",
    }
