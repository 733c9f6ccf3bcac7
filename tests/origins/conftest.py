"""Fixtures for the origins tests: tracking on for one test, and lines found by marker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fdscope import origins
from fdscope.origins import _tracker


@pytest.fixture
def tracking() -> Iterator[None]:
    """Tracking on (no signal handler) for the test; every record forgotten after."""
    origins.stop()
    _tracker.clear()
    origins.track(signal=None)
    try:
        yield
    finally:
        origins.stop()
        _tracker.clear()
