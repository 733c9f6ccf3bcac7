"""Lambda's memory size as a limit: one environment's resident memory, watched and enforced.

Lambda ends an execution environment whose memory goes over the function's
memory size: the invocation fails with ``Runtime exited with error: signal:
killed`` (error type ``Runtime.OutOfMemory``), the REPORT line shows ``Max
Memory Used`` at or above ``Memory Size``, and the next invocation is a cold
start. The local Lambda does the same in one of two ways (``run.json``'s
``memory.enforced``):

- ``cgroup``: a memory cgroup of its own (cgroup v1 ``memory.limit_in_bytes``
  or v2 ``memory.max``) where one can be made: the kernel kills the process
  that goes over, and the environment is then ended;
- ``poll``: the resident memory of the environment's process tree (VmRSS,
  summed) read every :data:`POLL_S` seconds and after every invocation; over
  the limit, the environment is killed.

Not ``RLIMIT_AS``: address space is not memory (at 128 MB it hangs Node.js,
which reserves far more than it uses, and stops Python from starting threads).
``FDSCOPE_MEMORY_ENFORCEMENT=poll`` forces polling (``cgroup`` refuses to fall
back). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from fdscope.local import _procs

MIB = 1024 * 1024
POLL_S = 0.05
ENFORCEMENT_VAR = "FDSCOPE_MEMORY_ENFORCEMENT"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup"))
OOM_ERROR = "Runtime.OutOfMemory"
OOM_HOW = "signal: killed"


def _make_cgroup(name: str, limit: int) -> tuple[Path, str] | None:
    """A memory cgroup ``name`` limited to ``limit`` bytes: (its folder, "v1"|"v2"), else None."""
    for root in CGROUP_ROOTS:
        v1 = (root / "memory.limit_in_bytes").exists()
        v2 = (root / "cgroup.controllers").exists() and "memory" in _read(
            root / "cgroup.subtree_control"
        ).split()
        if not (v1 or v2):
            continue
        folder = root / name
        try:
            folder.mkdir()
        except OSError:
            continue
        try:
            if v1:
                (folder / "memory.limit_in_bytes").write_text(str(limit))
                with contextlib.suppress(OSError):  # no swap accounting: nothing to set
                    (folder / "memory.memsw.limit_in_bytes").write_text(str(limit))
                with contextlib.suppress(OSError):
                    (folder / "memory.swappiness").write_text("0")
            else:
                (folder / "memory.max").write_text(str(limit))
                with contextlib.suppress(OSError):
                    (folder / "memory.swap.max").write_text("0")
        except OSError:
            with contextlib.suppress(OSError):
                folder.rmdir()
            continue
        return folder, "v1" if v1 else "v2"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def tree_memory(pids: list[int]) -> int | None:
    """Resident memory of a process tree in bytes: VmRSS for one process; for several,
    the sum of their proportional shares (Pss, /proc/PID/smaps_rollup), since processes
    share pages (a forked child, the interpreter's own code) that VmRSS counts in each."""
    if len(pids) <= 1:
        return _procs.status(pids)[0]
    total, seen = 0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        at = data.find(b"\nPss:")
        if at < 0:
            continue
        parts = data[at + 5 : data.find(b"\n", at + 1)].split()
        if parts and parts[0].isdigit():
            total += int(parts[0]) * 1024
            seen = True
    return total if seen else _procs.status(pids)[0]


class MemoryLimit:
    """The memory limit of one environment (see the module docstring).

    :meth:`start` after the runtime process exists; :meth:`check` is the
    synchronous test after an invocation (True: over the limit, the environment
    killed); :attr:`exceeded` is set by either; :meth:`close` after the
    environment ended.
    """

    def __init__(self, memory_mb: int, token: str, pid_of: Any) -> None:
        self.memory_mb = memory_mb
        self.limit = memory_mb * MIB
        self.pid_of = pid_of  # () -> the runtime's pid
        self.exceeded = threading.Event()
        self.last_rss: int | None = None  # the last total seen (what went over, at the end)
        self.cgroup: Path | None = None
        self.version = ""
        self.note = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._adopted: set[int] = set()
        self._ooms = 0
        want = os.environ.get(ENFORCEMENT_VAR, "auto").strip().lower() or "auto"
        if want != "poll":
            made = _make_cgroup(f"fdscope-{token[:16]}", self.limit)
            if made is not None:
                self.cgroup, self.version = made
                self._ooms = self._oom_kills()
            elif want == "cgroup":
                self.note = "no writable memory cgroup: polling instead"
            else:
                self.note = "no writable memory cgroup"
        else:
            self.note = f"{ENFORCEMENT_VAR}=poll"

    @property
    def enforced(self) -> str:
        return "cgroup" if self.cgroup is not None else "poll"

    def record(self) -> dict[str, Any]:
        """``run.json``'s ``memory``: the size and how it was enforced."""
        out: dict[str, Any] = {"memory_mb": self.memory_mb, "enforced": self.enforced}
        if self.cgroup is not None:
            out["cgroup"] = f"{self.version}:{self.cgroup}"
        else:
            out["poll_interval_s"] = POLL_S
        if self.note:
            out["note"] = self.note
        return out

    def start(self) -> None:
        self.adopt(_procs.tree(self.pid_of()))
        self._thread = threading.Thread(target=self._watch, name="fdscope-memory", daemon=True)
        self._thread.start()

    def adopt(self, pids: list[int]) -> None:
        """Move processes of the environment not yet in its cgroup there (their children
        follow by themselves)."""
        if self.cgroup is None:
            return
        for pid in pids:
            if pid in self._adopted:
                continue
            self._adopted.add(pid)
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.procs").write_text(str(pid))

    def _oom_kills(self) -> int:
        if self.cgroup is None:
            return 0
        name = "memory.oom_control" if self.version == "v1" else "memory.events"
        for line in _read(self.cgroup / name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def check(self, rss: int | None = None) -> bool:
        """Over the limit now (or already)? Then the environment is killed; True."""
        if self.exceeded.is_set():
            return True
        if self.cgroup is not None:
            # the kernel counts each page once (processes share theirs): trust it alone
            if self._oom_kills() > self._ooms:
                self._over(self._usage())
                return True
            return False
        if rss is None:
            rss = tree_memory(_procs.tree(self.pid_of()))
        if rss is not None:
            self.last_rss = rss
            if rss > self.limit:
                self._over(rss)
                return True
        return False

    def _usage(self) -> int | None:
        """The cgroup's peak usage in bytes (what went over the limit)."""
        if self.cgroup is None:
            return None
        name = "memory.max_usage_in_bytes" if self.version == "v1" else "memory.peak"
        text = _read(self.cgroup / name).strip()
        return int(text) if text.isdigit() else None

    def _over(self, rss: int | None) -> None:
        if rss is not None:
            self.last_rss = max(rss, self.last_rss or 0)
        self.exceeded.set()
        pid = self.pid_of()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _procs.signal_all(_procs.tree(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                if self.check():
                    return
            except OSError:
                continue

    def close(self) -> None:
        """Stop watching; remove the cgroup once its processes are gone."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        if self.cgroup is not None:
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    self.cgroup.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
