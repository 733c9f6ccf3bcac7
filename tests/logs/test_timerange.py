"""--start/--end parsing shared by every command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fdscope.logs.timerange import parse_time

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),  # the present
        ("1h", NOW - 3_600_000),  # relative: an hour ago
        ("30m ago", NOW - 1_800_000),  # relative with 'ago'
        ("2d", NOW - 2 * 86_400_000),  # days
        ("1700000000", 1_700_000_000_000),  # epoch seconds
        ("1700000000123", 1_700_000_000_123),  # epoch milliseconds
        ("2026-11-28T03:00:00Z", 1_795_834_800_000),  # ISO with Z
        ("2026-11-28 03:00:00", 1_795_834_800_000),  # naive ISO is UTC
    ],
)
def test_parse_time(text: str, expected: int) -> None:
    assert parse_time(text, now_ms=NOW) == expected


def test_bad_time_says_what_was_expected() -> None:
    with pytest.raises(ValueError, match="expected ISO 8601"):
        parse_time("yesterday-ish", now_ms=NOW)


@given(st.text(max_size=30))
def test_parse_time_raises_only_value_error(text: str) -> None:
    try:
        parse_time(text, now_ms=NOW)
    except ValueError:
        pass


@pytest.mark.parametrize("command", ["query", "triage", "metrics"])
def test_a_start_after_the_end_is_a_usage_error_in_every_command(tmp_path, command: str) -> None:
    from click.testing import CliRunner

    from fdscope.cli import cli

    log = tmp_path / "a.log"
    log.write_text("2024-01-01T00:00:00.000Z s1 hello\n")
    args = {"query": ["query", "fields @message", str(log)], "triage": ["triage", str(log)]}
    args["metrics"] = ["metrics", str(log)]
    flags = ["--start", "2024-02-01T00:00:00Z", "--end", "2024-01-01T00:00:00Z"]
    result = CliRunner().invoke(cli, [*args[command], *flags])
    assert result.exit_code == 2, result.output
    assert "is after the end" in result.output
    ok = CliRunner().invoke(cli, [*args[command], "--start", "2023-12-01", "--end", "2024-02-01"])
    assert "is after the end" not in ok.output
