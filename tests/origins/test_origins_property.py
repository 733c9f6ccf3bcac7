"""Property: whatever the order of opens and closes (numbers reused all the time), each
site's group counts exactly the handles still open from it."""

from __future__ import annotations

import os
import socket
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from origins_helpers import line_of

from fdscope import origins
from fdscope.origins import _tracker

HERE = __file__


def site_a() -> Any:
    return open(os.devnull)  # site_a  # noqa: SIM115


def site_b() -> Any:
    return socket.socket()  # site_b


def site_c() -> Any:
    return os.pipe()  # site_c


SITES = {"site_a": site_a, "site_b": site_b, "site_c": site_c}

ops = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.sampled_from(sorted(SITES))),
        st.tuples(st.just("close"), st.integers(min_value=0, max_value=50)),
    ),
    max_size=40,
)


def _close(obj: Any) -> None:
    if isinstance(obj, tuple):
        for fd in obj:
            os.close(fd)
    else:
        obj.close()


@settings(max_examples=40, deadline=None)
@given(steps=ops, sample=st.sampled_from([1, 3]))
def test_group_counts_follow_opens_and_closes(steps: list[tuple[str, Any]], sample: int) -> None:
    origins.stop()
    _tracker.clear()
    origins.track(sample=sample, signal=None, warn_fraction=None)
    live: list[tuple[str, Any]] = []
    try:
        for op, arg in steps:
            if op == "open":
                live.append((arg, SITES[arg]()))
            elif live:
                name, obj = live.pop(arg % len(live))
                _close(obj)
        rep = origins.report()
        for name in SITES:
            line = line_of(HERE, name)
            want = sum(2 if name == "site_c" else 1 for n, _ in live if n == name)
            got = sum(g.count for g in rep.groups if g.site.file == HERE and g.site.line == line)
            assert got == want, (name, rep.text())
        assert all(g.count == len(g.handles) for g in rep.groups)
        assert [g.count for g in rep.groups] == sorted((g.count for g in rep.groups), reverse=True)
    finally:
        for _, obj in live:
            _close(obj)
        origins.stop()
        _tracker.clear()
