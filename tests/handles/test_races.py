"""Races: descriptors opened and closed by another thread during the scan."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from fdscope import handles


def test_snapshots_during_churn_never_raise_and_stay_consistent() -> None:
    tmp = tempfile.NamedTemporaryFile()  # noqa: SIM115
    held_r, held_w = os.pipe()
    held_sock = socket.socket()
    held = {
        held_r: ("pipe", os.fstat(held_r).st_ino),
        held_w: ("pipe", os.fstat(held_w).st_ino),
        held_sock.fileno(): ("tcp", os.fstat(held_sock.fileno()).st_ino),
        tmp.fileno(): ("file", os.fstat(tmp.fileno()).st_ino),
    }
    # fd -> every (kind, inode) the churn thread ever had under that number
    opened: dict[int, set[tuple[str, int]]] = {}
    stop = threading.Event()
    cycles = [0]

    def churn() -> None:
        n = 0
        while not stop.is_set() and n < 20000:
            n += 1
            batch: list[int] = []
            what = n % 3
            if what == 0:
                fd = os.open(tmp.name, os.O_RDONLY)
                opened.setdefault(fd, set()).add(("file", os.fstat(fd).st_ino))
                batch.append(fd)
            elif what == 1:
                r, w = os.pipe()
                ino = os.fstat(r).st_ino
                for fd in (r, w):
                    opened.setdefault(fd, set()).add(("pipe", ino))
                batch += [r, w]
            else:
                a, b = socket.socketpair()
                for s in (a, b):
                    fd = s.detach()
                    opened.setdefault(fd, set()).add(("unix", os.fstat(fd).st_ino))
                    batch.append(fd)
            for fd in batch:
                os.close(fd)
        cycles[0] = n

    gc.collect()
    # what else this process held before the churn (pytest's own descriptors)
    before = {h.fd: (h.kind, h.inode) for h in handles.snapshot().handles}
    thread = threading.Thread(target=churn)
    snaps = []
    thread.start()
    try:
        deadline = time.monotonic() + 3.0
        while thread.is_alive() and time.monotonic() < deadline:
            snaps.append(handles.snapshot(details=len(snaps) % 2 == 1))
    finally:
        stop.set()
        thread.join()
    assert cycles[0] >= 1000, "the churn thread opened and closed thousands of descriptors"
    assert len(snaps) >= 5
    for snap in snaps:
        got = {h.fd: h for h in snap.handles}
        for fd, (kind, ino) in held.items():
            assert (got[fd].kind, got[fd].inode) == (kind, ino)
        for h in snap.handles:
            if h.fd in held or h.fd not in opened or before.get(h.fd) == (h.kind, h.inode):
                continue
            # a transient one matches what its opener recorded for that number
            # (a number churned before this test began is not in `opened`)
            assert (h.kind, h.inode) in opened[h.fd], (h, opened[h.fd])
    for fd in (held_r, held_w):
        os.close(fd)
    held_sock.close()
    tmp.close()


def test_a_process_exiting_during_snapshots_gives_process_gone_only() -> None:
    code = (
        "import os, socket, sys, time\n"
        "keep = [os.open(os.devnull, os.O_RDONLY) for _ in range(300)]\n"
        "keep += [socket.socketpair() for _ in range(100)]\n"
        "print('ready', flush=True); time.sleep(float(sys.argv[1]))\n"
    )
    for delay in ("0.05", "0.2"):
        proc = subprocess.Popen([sys.executable, "-c", code, delay], stdout=subprocess.PIPE)
        proc.stdout.readline()
        results = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                snap = handles.snapshot(proc.pid, details=len(results) % 2 == 1)
                results.append(snap.count)
            except handles.ProcessGone as exc:
                assert exc.pid == proc.pid
                break
        else:
            raise AssertionError("the process never went")
        proc.wait()
        proc.stdout.close()
        with pytest.raises(handles.ProcessGone):
            handles.count(proc.pid, tree=True)
