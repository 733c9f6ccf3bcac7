"""The inventory agrees with lsof on a process holding one descriptor of every kind,
and with what that process knows it opened (fields lsof does not show)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from fdscope import handles
from fdscope.handles._model import ANON_KINDS, KINDS

LSOF_TYPES = {
    "REG": {"file", "memfd", "unknown"},  # nsfs files (net:[...]) are REG to lsof
    "DIR": {"dir"},
    "CHR": {"chr"},
    "BLK": {"blk"},
    "FIFO": {"fifo", "pipe"},
    "unix": {"unix"},
    "sock": {"netlink", "socket"},
    "netlink": {"netlink"},
    "pack": {"socket"},
    "a_inode": set(ANON_KINDS),
}


def lsof(pid: int) -> dict[int, dict[str, str]]:
    """fd -> lsof's fields (t type, i/d inode, n name, P protocol, T tcp info)."""
    exe = shutil.which("lsof")
    assert exe, "lsof is needed (CI installs it)"
    out = subprocess.run(
        [exe, "-p", str(pid), "-n", "-P", "-w", "-F", "fatinPTd"],
        capture_output=True,
        text=True,
    ).stdout
    rows: dict[int, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in out.splitlines():
        tag, value = line[:1], line[1:]
        if tag == "f":
            cur = {}
            if value.isdigit():
                rows[int(value)] = cur
        elif cur is not None and tag in "atinPdT":
            if tag == "T":
                key, _, val = value.partition("=")
                cur["T" + key] = val
            else:
                cur[tag] = value
    return rows


def test_same_descriptors_types_paths_and_endpoints(holder: dict[str, Any]) -> None:
    pid = holder["pid"]
    theirs = lsof(pid)
    snap = handles.snapshot(pid)
    ours = {h.fd: h for h in snap.handles}
    assert sorted(ours) == sorted(theirs)
    # the holder made one of every kind we name
    assert {h.kind for h in snap.handles} == set(KINDS)
    for fd, row in theirs.items():
        h = ours[fd]
        t = row["t"]
        if t in ("IPv4", "IPv6"):
            proto = row["P"].lower()
            assert h.kind == (proto if t == "IPv4" else proto + "6"), (fd, row, h)
            assert h.inode == int(row["d"])
            want = h.local if h.remote is None else f"{h.local}->{h.remote}"
            assert row["n"] == want, (fd, row, h)
            assert h.state == row.get("TST"), (fd, row, h)
            continue
        assert h.kind in LSOF_TYPES[t], (fd, row, h)
        inode = int(row.get("i") or row.get("d") or 0)
        assert h.inode == inode, (fd, row, h)
        name = row.get("n", "")
        if t == "FIFO" and h.kind == "pipe":
            assert name == "pipe"
        elif t in ("REG", "DIR", "CHR", "BLK", "FIFO") and h.kind != "unknown":
            assert name == h.path + (" (deleted)" if h.deleted else ""), (fd, row, h)
        elif t == "unix":
            words = name.split()
            assert words[-1] == f"type={h.type.upper()}", (fd, row, h)
            assert (words[0] if len(words) > 1 else None) == h.path, (fd, row, h)
        elif t == "a_inode":
            assert name.strip("[]").split(":")[0] == h.detail, (fd, row, h)
        elif t == "sock":
            assert name == f"protocol: {h.kind.upper()}"
        elif t == "netlink":
            assert name == h.detail.upper()
        elif t == "pack":
            assert h.family == "packet"
        elif h.kind == "unknown":
            assert h.target.startswith(name + ":["), (fd, row, h)


def test_fields_lsof_does_not_show_match_what_the_holder_opened(holder: dict[str, Any]) -> None:
    snap = handles.snapshot(holder["pid"], details=True)
    ours = {h.fd: h for h in snap.handles}
    for fd, facts in holder["fds"].items():
        h = ours[fd]
        for key, want in facts.items():
            if key == "flags_has":
                assert h.flags is not None and h.flags & want == want, (fd, facts, h)
            else:
                assert getattr(h, key) == want, (fd, key, facts, h)
    # without details, the fdinfo fields stay unknown, and a diff against the detailed
    # snapshot finds nothing opened or closed
    light_snap = handles.snapshot(holder["pid"])
    for h in light_snap.handles:
        assert h.pos is None and h.flags is None and h.pipe_end is None
        if h.kind in ("file", "dir", "chr", "blk", "fifo", "memfd", "pipe"):
            assert h.mode is None
    d = handles.diff(light_snap, snap)
    assert (d.opened, d.closed) == ((), ())


def test_snapshot_records_limits_threads(holder: dict[str, Any]) -> None:
    snap = handles.snapshot(holder["pid"])
    with open(f"/proc/{holder['pid']}/limits") as f:
        limits = f.read()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    soft, hard = (int(v) for v in line.split()[3:5])
    assert (snap.soft_limit, snap.hard_limit) == (soft, hard)
    assert snap.threads == 1
    assert snap.children == ()
    assert snap.count == handles.count(holder["pid"])
