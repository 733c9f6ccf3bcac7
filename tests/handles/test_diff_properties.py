"""diff() as a multiset comparison by identity: properties over random snapshots."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope import handles
from fdscope.handles import Handle, Snapshot

# a small universe of distinct things a descriptor can be, so that draws collide
THINGS = [
    dict(kind="file", target="/a", inode=1, path="/a"),
    dict(kind="file", target="/b", inode=2, path="/b"),
    dict(kind="pipe", target="pipe:[7]", inode=7),
    dict(kind="tcp", target="socket:[9]", inode=9, local="127.0.0.1:1", remote="127.0.0.1:2"),
    dict(kind="tcp", target="socket:[10]", inode=10, local="127.0.0.1:3", remote="127.0.0.1:2"),
    dict(kind="eventfd", target="anon_inode:[eventfd]", inode=3, detail="eventfd"),
]


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    picks = draw(st.lists(st.integers(0, len(THINGS) - 1), max_size=12))
    fds = draw(st.lists(st.integers(0, 40), min_size=len(picks), max_size=len(picks), unique=True))
    hs = tuple(
        sorted(
            (Handle(fd=fd, **THINGS[i]) for fd, i in zip(fds, picks, strict=True)),
            key=lambda h: h.fd,
        )
    )
    return Snapshot(
        pid=1, time=0.0, soft_limit=None, hard_limit=None, threads=None, children=(), handles=hs
    )


def ids(hs: tuple[Handle, ...]) -> Counter:
    return Counter(h.identity for h in hs)


@settings(max_examples=60)
@given(snapshots(), snapshots())
def test_diff_is_the_multiset_difference_of_identities(a: Snapshot, b: Snapshot) -> None:
    d = handles.diff(a, b)
    assert ids(d.opened) == ids(b.handles) - ids(a.handles)
    assert ids(d.closed) == ids(a.handles) - ids(b.handles)
    assert d.net == b.count - a.count
    assert set(d.opened) <= set(b.handles) and set(d.closed) <= set(a.handles)
    back = handles.diff(b, a)
    assert ids(back.opened) == ids(d.closed) and ids(back.closed) == ids(d.opened)


@settings(max_examples=30)
@given(snapshots())
def test_a_snapshot_has_no_diff_with_itself(a: Snapshot) -> None:
    d = handles.diff(a, a)
    assert d.opened == () and d.closed == ()
