"""The psutil fallback (other platforms), forced here: same records, unknown fields None."""

from __future__ import annotations

from typing import Any

import pytest

from fdscope import handles
from fdscope.handles import _api


@pytest.fixture
def forced_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_api, "_BACKEND", "psutil")


def test_psutil_snapshot_agrees_on_what_it_knows(holder: dict[str, Any], forced_psutil) -> None:
    pid = holder["pid"]
    snap = handles.snapshot(pid)
    assert snap.platform == "psutil" and handles.backend() == "psutil"
    linux = {h.fd: h for h in _api._linux.scan(pid, details=True).handles}
    kinds = set()
    for h in snap.handles:
        ref = linux[h.fd]
        kinds.add(h.kind)
        assert h.inode is None and h.pipe_end is None and h.peer_fd is None
        if h.kind == "file":
            assert ref.kind in ("file", "memfd") and h.path == ref.path
            assert h.pos == ref.pos
        elif h.kind == "unix":  # psutil knows the bound path, not the peer
            assert ref.kind == "unix" and h.local == ref.path, (h, ref)
        else:
            assert h.kind == ref.kind
            assert (h.local, h.remote) == (ref.local, ref.remote), (h, ref)
            if h.kind in ("tcp", "tcp6"):
                assert h.state == ref.state
    assert {"file", "tcp", "tcp6", "udp", "udp6", "unix"} <= kinds
    assert (snap.soft_limit, snap.hard_limit) == (linux_limits := _limits(pid))
    assert linux_limits[0] is not None
    assert snap.threads == 1 and snap.children == ()
    assert handles.count(pid) == len(linux)
    assert handles.descendants(pid) == []


def _limits(pid: int) -> tuple[int | None, int | None]:
    snap = _api._linux.scan(pid)
    return snap.soft_limit, snap.hard_limit


def test_psutil_errors_are_ours(forced_psutil) -> None:
    with pytest.raises(handles.ProcessGone) as info:
        handles.snapshot(2**22 + 12345)
    assert info.value.pid == 2**22 + 12345
