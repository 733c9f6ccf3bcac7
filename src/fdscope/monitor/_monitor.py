"""The in-function monitor: measure around each invocation, one EMF record, leak watch, EMFILE.

Fail open: every stage runs under :meth:`Monitor._guard`; an error inside
fdscope is written once per process to stderr and never changes the handler's
result, its exception object, or its output.
"""

from __future__ import annotations

import _thread
import math
import os
import resource
import sys
import time

from fdscope import registry
from fdscope.exhaustion import default_margin
from fdscope.monitor import _connections, _emfile
from fdscope.monitor._config import UNITS, Config

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:  # imported when first needed: the monitor's import stays small
    from collections.abc import Callable
    from typing import IO

    from fdscope.trend import LeakWatch, Trend

IMPORTED_AT = time.time()  # earliest moment the monitor knows of (init_duration's start)
_MB = 1024 * 1024
_DETAIL_FIRST = 8
_DETAIL_EVERY = 16
_TOP_SITES = 5
_MAX_LISTED = 2048
_NO_FD = (24, 23)  # EMFILE, ENFILE


_ENCODERS: list[Any] = []  # the members' JSON encoder, made at first use (json loads lazily)


class _NoFastPath(Exception):
    """This /proc cannot count descriptors in O(1): use fdscope.handles."""


class _Start:
    """What the monitor noted when an invocation began."""

    __slots__ = (
        "invocation",
        "wall",
        "t",
        "cpu",
        "before",
        "fds",
        "net",
        "request_id",
        "no_fd",
        "connects",
    )

    def __init__(
        self,
        invocation: int,
        wall: float,
        t: float,
        cpu: os.times_result,
        before: int | None,
        fds: set[int] | None,
        net: tuple[int, int] | None,
        request_id: str,
        no_fd: bool = False,  # a scan at the start found no free descriptor
        connects: int | None = None,  # the connect counter at the start (see _connects)
    ) -> None:
        self.invocation = invocation
        self.wall = wall
        self.t = t
        self.cpu = cpu
        self.before = before
        self.fds = fds
        self.net = net
        self.request_id = request_id
        self.no_fd = no_fd
        self.connects = connects


_NO_SOCKET = -1  # _Start.connects: no socket module yet, so no Python socket connected


class Monitor:
    """Wraps invocations of one handler in one process; see :meth:`call`.

    ``stream``/``err`` default to ``sys.stdout``/``sys.stderr`` looked up at write
    time; ``proc`` is the proc root for the own process (tests point it elsewhere).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        stream: IO[str] | None = None,
        err: IO[str] | None = None,
        proc: str = "/proc",
    ) -> None:
        self.config = config if config is not None else Config.from_env()
        self.stream = stream
        self.err = err
        self.proc = proc
        self.invocations = 0
        self.internal_errors = 0
        self._watch: LeakWatch | None = None
        self.last_record: dict[str, Any] | None = None
        self.last_trend: Trend | None = None
        self.emfile_invocations = 0
        self._logged = False
        self._reported_emfile = False
        self._near_warned = False
        self._near = False  # the own count stands within the margin of the limit
        self._last_count: int | None = None
        self._lock = _thread.allocate_lock()
        self._heads: dict[tuple[str, ...], str] = {}  # encoded constant parts by metric set
        self._fast_count: bool | None = None  # False once the /proc fast path proved unusable
        self.own_count: int | None = None  # this process alone, at the last count_tree()
        self._pid = os.getpid()
        self._own_nlink: int | None = None  # st_nlink of our task/ folder, from the count
        self._reserve: list[int] = []  # see _keep_reserve
        self._prepared = False

    @property
    def watch(self) -> LeakWatch:
        """The leak watch (:class:`fdscope.trend.LeakWatch`), made on first use."""
        if self._watch is None:
            from fdscope.trend import LeakWatch

            self._watch = LeakWatch(window=self.config.window)
        return self._watch

    # -- plumbing -------------------------------------------------------------------------
    def _guard(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # fail open
            self._internal(stage, exc)
            return None

    def _internal(self, stage: str, exc: BaseException) -> None:
        self.internal_errors += 1
        if self._logged:
            return
        self._logged = True
        try:
            err = self.err if self.err is not None else sys.stderr
            err.write(
                f"fdscope: internal error in {stage} (the handler is unaffected; "
                f"reported once per process): {type(exc).__name__}: {exc}\n"
            )
            err.flush()
        except Exception:
            pass

    def _write(self, line: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(line + "\n")
        out.flush()

    # -- the invocation -------------------------------------------------------------------
    def call(self, handler: Callable[[Any, Any], Any], event: Any, context: Any) -> Any:
        """Run ``handler(event, context)`` measured; its result or exception passes unchanged."""
        st = self._guard("start", self._start, context)
        try:
            result = handler(event, context)
        except BaseException as exc:
            if st is not None:
                self._guard("finish", self._finish, st, exc)
            raise
        if st is not None:
            self._guard("finish", self._finish, st, None)
        return result

    def _want_detail(self, k: int) -> bool:
        mode = self.config.scan
        if mode == "always":
            return True
        if mode == "never":
            return False
        # A listing costs ~0.7 us per descriptor: above 256 descriptors list less often,
        # so the amortised cost stays flat (every 16th at 100, every 62nd at 1,000).
        every = max(_DETAIL_EVERY, (self._last_count or 0) // 16)
        return k <= _DETAIL_FIRST or k % every == 0

    def _start(self, context: Any) -> _Start:
        with self._lock:
            self.invocations += 1
            k = self.invocations
        before = self._last_count
        if not self._prepared and not self._reserve:
            self._guard("reserve", self._keep_reserve)
        if not self._prepared and before is not None and before >= self._half_limit():
            # Near the limit: import the inventory and keep its reserve descriptor now,
            # while descriptors are free (a cold start below half the limit never pays).
            self._prepared = True
            self._guard("prepare", self._prepare)
        if before is None:
            before = self._guard("count", self.count_tree)
        detail = self._want_detail(k)
        no_fd = False
        fds = net = None
        if detail:
            try:
                fds = self.fd_numbers()
                net = self.net_bytes()
            except OSError as exc:  # EMFILE at entry is a finding, not an internal error
                if exc.errno not in _NO_FD:
                    self._internal("scan", exc)
                no_fd = exc.errno in _NO_FD
        connects = self._guard("connections", self._connects)
        rid = getattr(context, "aws_request_id", None)
        return _Start(
            invocation=k,
            wall=time.time(),
            t=time.perf_counter(),
            cpu=os.times(),
            before=before,
            fds=fds,
            net=net,
            request_id=rid if isinstance(rid, str) else "",
            no_fd=no_fd,
            connects=connects,
        )

    def _connects(self) -> int | None:
        """The connect counter now (``fdscope.monitor._connections``), installed on first use.

        ``_NO_SOCKET`` when the socket module is not imported yet (no Python socket can
        have connected; importing it would cost the cold start); None when the counter
        cannot be put in place (the member is then left out).
        """
        if not _connections.loaded():
            return _NO_SOCKET
        if not _connections.install():
            return None
        _connections.SEEN.clear()
        return _connections.made()

    def _new_connections(self, st: _Start, opened: set[int] | None) -> int | None:
        """Connections this process made during the invocation; None: not measurable."""
        if st.connects is None:
            return None
        if st.connects == _NO_SOCKET:
            if _connections.loaded():
                self._connects()  # imported during the invocation: counted from the next one
                return None  # a connection made here was not counted: leave the member out
            made = 0
            seen: set[int] = set()
        else:
            if not _connections.active():
                return None  # replaced during the invocation (gevent): the count is partial
            made = _connections.made() - st.connects
            seen = _connections.SEEN
        if opened:
            # on listing invocations: connected TCP sockets the counter did not see (C code
            # that connects by itself: libpq, gRPC's core), still open at the end
            made += sum(1 for fd in opened if fd not in seen and self._is_connection(fd))
        return made

    @staticmethod
    def _half_limit() -> int:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return (soft // 2) if 0 < soft != resource.RLIM_INFINITY else 1 << 19

    def _prepare(self) -> None:
        """Import the inventory and let it keep its reserve descriptor (ours is then let go)."""
        if self.proc == "/proc":
            from fdscope.handles import prepare

            prepare()
            self._release_reserve()

    def _keep_reserve(self) -> None:
        """Two descriptors held from the first invocation until the inventory takes over.

        At EMFILE they are closed, so that importing ``fdscope.handles`` (one file
        open at a time) and its ``prepare()`` (its reserve, plus one transient read)
        can use them: the report never needs a new one.
        """
        if not self._reserve and not registry.is_loaded("fdscope.handles"):
            try:
                for _ in range(2):
                    self._reserve.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                self._release_reserve()

    def _release_reserve(self) -> None:
        fds, self._reserve = self._reserve, []
        for fd in fds:
            os.close(fd)

    # -- probes (each may raise; the caller guards) -----------------------------------------
    def count_tree(self) -> int:
        """Descriptors of this process and its descendants (Lambda Insights' fd_use).

        The fast path reads /proc directly (the size of /proc/PID/fd, Linux >= 6.2;
        children from /proc/PID/task/TID/children), so a cold start does not pay
        for importing the full inventory; anything else is ``fdscope.handles.count``.
        """
        self.own_count = None
        if self._fast_count is not False:
            try:
                return self._count_fast()
            except OSError:
                pass  # no descriptor to read children with: the own count still works
            except _NoFastPath:
                self._fast_count = False
        from fdscope.handles import count

        if self.proc == "/proc":
            own = self.own_count = count()
            try:
                return count(tree=True)
            except Exception:
                return own  # descendants need a free descriptor; the own count does not
        from pathlib import Path

        self.own_count = count(os.getpid(), proc_root=Path(self.proc))
        return count(os.getpid(), tree=True, proc_root=Path(self.proc))

    def _fd_size(self, pid: int | str) -> int:
        n = os.stat(f"{self.proc}/{pid}/fd").st_size
        if n <= 0:
            raise _NoFastPath  # kernels before 6.2 report 0: list instead (handles does)
        return n

    def _count_fast(self) -> int:
        total = self.own_count = self._fd_size("self")
        self._pid = os.getpid()  # after a fork, the child's
        try:
            queue = self._children(self._pid)
        except OSError as exc:
            if exc.errno in _NO_FD:
                return total  # at EMFILE: the own count, which needs no descriptor
            raise _NoFastPath from exc
        seen: set[int] = set()
        while queue:
            child = queue.pop()
            if child in seen:
                continue
            seen.add(child)
            try:
                total += self._fd_size(child)
                queue.extend(self._children(child))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # exited meanwhile, or not ours to read
        return total

    def _children(self, pid: int) -> list[int]:
        base = f"{self.proc}/{pid}/task"
        # one thread (st_nlink of task/ is 2 + threads, a stat needs no descriptor): its
        # children file is task/PID/children, no listing needed
        nlink = os.stat(base).st_nlink
        if pid == self._pid:
            self._own_nlink = nlink  # threads() reuses it within the same measurement
        tids = [str(pid)] if nlink == 3 else os.listdir(base)
        out: list[int] = []
        for tid in tids:
            try:
                fd = os.open(f"{base}/{tid}/children", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # the thread ended
            try:
                data = b""
                while True:  # one read, unless the children do not fit in it
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    data += chunk
            finally:
                os.close(fd)
            out.extend(int(x) for x in data.split())
        return out

    def fd_numbers(self) -> set[int]:
        """The own descriptor numbers (the listing's own descriptor left out)."""
        probe = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        os.close(probe)  # the listing will get this number: the lowest free one
        names = os.listdir(f"{self.proc}/self/fd")
        out = {int(n) for n in names}
        out.discard(probe)
        return out

    def net_bytes(self) -> tuple[int, int]:
        """(received, sent) bytes of every interface but loopback."""
        with open(f"{self.proc}/self/net/dev", "rb") as f:
            data = f.read()
        rx = tx = 0
        for line in data.splitlines()[2:]:
            name, _, rest = line.partition(b":")
            if name.strip() == b"lo":
                continue
            cols = rest.split()
            if len(cols) >= 9:
                rx += int(cols[0])
                tx += int(cols[8])
        return rx, tx

    def threads(self) -> int:
        """OS threads of this process: ``st_nlink`` of /proc/self/task is 2 + threads.

        A stat needs no descriptor (it works at EMFILE) and costs half a listing; the
        count's own stat of that folder, just taken, is reused.
        """
        try:
            nlink, self._own_nlink = self._own_nlink, None
            n = (nlink or os.stat(f"{self.proc}/self/task").st_nlink) - 2
            if n >= 1:
                return n
            return len(os.listdir(f"{self.proc}/self/task"))
        except OSError:
            import threading

            return threading.active_count()

    def _is_connection(self, fd: int) -> bool:
        """A connected TCP socket (IPv4 or IPv6): what a new connection to a service is made
        of. A socket never connected, or a listening one, is not a connection."""
        try:
            if not os.readlink(f"{self.proc}/self/fd/{fd}").startswith("socket:"):
                return False
            import socket  # already imported by whatever made the socket

            sock = socket.socket(fileno=fd)  # wraps the descriptor, opens nothing
            try:
                if sock.family not in (socket.AF_INET, socket.AF_INET6) or (
                    sock.type != socket.SOCK_STREAM
                ):
                    return False
                sock.getpeername()  # ENOTCONN: never connected, or a listener
                return True
            finally:
                sock.detach()
        except OSError:
            return False

    # -- after the handler ----------------------------------------------------------------
    def _finish(self, st: _Start, exc: BaseException | None) -> None:
        cfg = self.config
        rec = self._guard("measure", self._measure, st)
        if rec is None:
            rec = {}
        limit = rec.get("fd_max") or resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        count = rec.get("fd_use")
        margin = cfg.emfile_margin if cfg.emfile_margin is not None else default_margin(limit)
        # the limit is per process: this process's own count meets it, not the tree's
        # (helper processes such as a headless browser hold descriptors of their own)
        own = self.own_count if self.own_count is not None else count
        # the monitor's own listing failed for want of a descriptor: an open failed (evidence)
        own_failed = bool(rec.pop("_scan_emfile", False)) or st.no_fd
        # a count near the limit is no evidence by itself; it only lets a library's
        # disguise (gaierror -2, sqlite3, select()) count, as the exhaustion table says
        near = own is not None and own >= limit - margin
        evidence = (
            self._guard(
                "emfile", self.emfile_evidence, exc, near or own_failed, own, limit, own_failed
            )
            or []
        )
        if evidence:
            self.emfile_invocations += 1
            rec["emfile"] = True
        trend = None
        if count is not None:
            trend = self._guard("trend", self._trend, count)
        self.last_record = rec
        if cfg.emf:
            self._guard("emit", self._emit, st, rec)
        crossing = False
        if near:
            crossing, self._near = not self._near, True
        elif own is not None:
            self._near = False  # back below the margin: the next crossing warns again
        if crossing and not evidence and own is not None:
            line = self._guard("near", self._near_limit, st, own, count, limit, margin)
            if line is not None:
                self._guard("write", self._write, line)
        warning = self._guard("warning", self._warning, trend, count, limit, evidence)
        if warning is not None:
            self._guard("write", self._write, warning)
        if evidence and not self._reported_emfile:
            self._reported_emfile = True
            self._guard("report", self._emfile_report, st, count, limit, evidence)
        self._guard("origins", self._send_origins, st.invocation)

    def _measure(self, st: _Start) -> dict[str, Any]:
        cfg = self.config
        t1 = time.perf_counter()
        cpu = os.times()
        rec: dict[str, Any] = {}
        duration = (t1 - st.t) * 1000.0
        rec["duration"] = round(duration, 3)
        rec["billed_duration"] = max(1, math.ceil(duration))
        user = (cpu.user - st.cpu.user) * 1000.0
        system = (cpu.system - st.cpu.system) * 1000.0
        rec["cpu_user_time"] = round(user, 3)
        rec["cpu_system_time"] = round(system, 3)
        rec["cpu_total_time"] = round(user + system, 3)
        scan_emfile = False
        count = self._guard("count", self.count_tree)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 1 << 20
        rec["fd_max"] = soft
        if count is not None:
            rec["fd_use"] = count
            if st.before is not None:
                rec["fd_net"] = count - st.before
            self._last_count = count
        opened: set[int] | None = None
        if st.fds is not None:
            try:
                after = self.fd_numbers()
            except OSError as exc:
                if exc.errno not in _NO_FD:
                    raise
                scan_emfile = True
                after = None
            if after is not None:
                opened = after - st.fds
                rec["fd_opened"] = len(opened)
                rec["fd_closed"] = len(st.fds - after)
        conns = self._guard("connections", self._new_connections, st, opened)
        if conns is not None:
            rec["new_connections"] = conns
        if st.net is not None and not scan_emfile:
            net = self._guard("network", self.net_bytes)
            if net is not None:
                rx, tx = net[0] - st.net[0], net[1] - st.net[1]
                rec["rx_bytes"], rec["tx_bytes"], rec["total_network"] = rx, tx, rx + tx
        rec["threads_max"] = self.threads()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        used = round(ru.ru_maxrss / 1024.0, 1)  # KiB on Linux
        rec["used_memory_max"] = used
        if cfg.memory_mb:
            rec["total_memory"] = cfg.memory_mb
            rec["memory_utilization"] = round(100.0 * used / cfg.memory_mb, 1)
        try:
            vfs = os.statvfs("/tmp")
            rec["tmp_max"] = vfs.f_blocks * vfs.f_frsize
            rec["tmp_used"] = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
        except OSError:
            pass
        if st.invocation == 1:
            rec["cold_start"] = True
            rec["init_duration"] = round(max(0.0, st.wall - IMPORTED_AT) * 1000.0, 3)
        else:
            rec["cold_start"] = False
        if scan_emfile:
            rec["_scan_emfile"] = True
        return rec

    def emfile_evidence(
        self,
        exc: BaseException | None,
        at_limit: bool,
        count: int | None,
        limit: int,
        own_failed: bool = False,
    ) -> list[str]:
        """Why this invocation hit EMFILE ([] when it did not): evidence that an open failed.

        ``own_failed``: the monitor's own descriptor listing failed with EMFILE or ENFILE
        (an open failed, in this process). ``at_limit`` (the count within the margin) is
        no evidence by itself; it lets a library's disguise count (the exhaustion table).
        """
        out = []
        if own_failed:
            shown = "?" if count is None else str(count)
            out.append(
                f"the monitor's own descriptor listing failed: no descriptor could be had "
                f"({shown} of {limit} open)"
            )
        out.extend(_emfile.evidence(exc, at_limit=at_limit or own_failed))
        return out

    def _near_limit(self, st: _Start, own: int, count: int | None, limit: int, margin: int) -> str:
        """The ``fd_near_limit`` WARNING: this process's count crossed into the margin of
        its limit and no open failed (no evidence): a warning, never EMFILE."""
        t = self.last_trend
        rate = t.rate if t is not None and t.leaking and t.rate > 0 else None
        steps = None if rate is None else max(1, math.ceil((limit - own) / rate))
        at = None if steps is None else st.invocation + steps
        msg = (
            f"fdscope WARNING: {own} of {limit} descriptors in use after invocation "
            f"{st.invocation}, within {margin} of the limit; no open has failed yet"
        )
        if at is not None:
            msg += (
                f". At {rate:.2f} per invocation the limit is projected at invocation ~{at} "
                f"(in about {steps})"
            )
        sites = self._guard("origins", self._sites) or []
        if sites:
            msg += f". Top creation sites: {self._sites_text(sites)}"
        doc = {
            "level": "WARNING",
            "logger": "fdscope",
            "event": "fd_near_limit",
            "message": msg,
            "function_name": self.config.function_name,
            "request_id": st.request_id,
            "invocation": st.invocation,
            "fd_use": count,  # the process tree, as in the record
            "fd_process": own,  # this process: what its limit applies to
            "fd_max": limit,
            "margin": margin,
            "rate": None if rate is None else round(rate, 4),
            "invocations_to_limit": steps,
            "projected_at": at,
            "sites": sites,
        }
        from json import dumps

        return dumps(doc, separators=(",", ":"), default=str)

    def _trend(self, count: int) -> Trend | None:
        fresh = self.watch.update(count)
        if fresh is not None:
            self.last_trend = fresh
        return fresh

    def _emit(self, st: _Start, rec: dict[str, Any]) -> None:
        self._write(self.encode(st, rec))

    def encode(self, st: _Start, rec: dict[str, Any]) -> str:
        """:meth:`document` as one JSON line, fast: the constant part is serialised once.

        Only the members the monitor itself names are written by hand (numbers
        and booleans); strings go through ``json``. Parses to :meth:`document`.
        """
        from json import dumps

        cfg = self.config
        names = tuple(m for m in cfg.metrics if m in rec)
        head = self._heads.get(names)
        if head is None:
            directive = {
                "Namespace": cfg.namespace,
                "Dimensions": [list(x) for x in cfg.dimension_sets],
                "Metrics": [{"Name": m, "Unit": UNITS[m]} for m in names],
            }
            members = {"event_type": "performance", "function_name": cfg.function_name}
            members["version"] = cfg.version
            body = dumps(members, separators=(",", ":"))[1:-1]
            head = ',"CloudWatchMetrics":' + dumps([directive], separators=(",", ":")) + "}," + body
            self._heads[names] = head
        parts = [
            '{"_aws":{"Timestamp":',
            str(int(st.wall * 1000)),
            head,
            ',"request_id":',
            dumps(st.request_id),
            ',"invocation":',
            str(st.invocation),
        ]
        for k, v in cfg.constants.items():
            parts.append("," + dumps(k) + ":" + dumps(v))
        if rec:
            if not _ENCODERS:
                from json import JSONEncoder

                _ENCODERS.append(JSONEncoder(separators=(",", ":"), allow_nan=False).encode)
            encoded: str | None
            try:  # every value finite: the C encoder writes the members at once
                encoded = _ENCODERS[0](rec)
            except ValueError:
                encoded = None  # NaN or infinity somewhere: members one by one, skipping those
            if encoded is not None:
                parts.append("," + encoded[1:-1] + "}")
                return "".join(parts)
        for k, v in rec.items():
            if v is True:
                text = "true"
            elif v is False:
                text = "false"
            elif isinstance(v, int):
                text = str(v)
            elif isinstance(v, float):
                if not math.isfinite(v):
                    continue
                text = repr(v)
            else:
                text = dumps(v)
            parts.append(',"' + k + '":' + text)
        parts.append("}")
        return "".join(parts)

    def document(self, st: _Start, rec: dict[str, Any]) -> dict[str, Any]:
        """The EMF document of one invocation (FORMATS.md section 4)."""
        cfg = self.config
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(st.wall * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": cfg.namespace,
                        "Dimensions": [list(s) for s in cfg.dimension_sets],
                        "Metrics": [{"Name": m, "Unit": UNITS[m]} for m in cfg.metrics if m in rec],
                    }
                ],
            },
            "event_type": "performance",
            "function_name": cfg.function_name,
            "version": cfg.version,
            "request_id": st.request_id,
            "invocation": st.invocation,
        }
        doc.update(cfg.constants)
        doc.update(rec)
        return doc

    def _sites(self) -> list[dict[str, Any]]:
        if not registry.is_loaded("fdscope.origins"):
            return []  # never imported here: origins costs the cold start, and is not tracking
        from fdscope import origins

        if not origins.is_tracking():
            return []
        groups = origins.report().json().get("groups", [])
        out = []
        for g in groups[:_TOP_SITES]:
            site = g.get("site") or {}
            out.append(
                {
                    "site": f"{site.get('file')}:{site.get('line')}",
                    "function": site.get("function"),
                    "call": site.get("call"),
                    "kind": g.get("kind"),
                    "endpoint": g.get("endpoint"),
                    "count": g.get("count"),
                }
            )
        return out

    @staticmethod
    def _sites_text(sites: list[dict[str, Any]]) -> str:
        parts = []
        for s in sites:
            what = f"{s['site']} {s.get('function') or ''}: {s.get('call') or ''}".strip()
            tail = f" -> {s['endpoint']}" if s.get("endpoint") else ""
            parts.append(f"{what} ({s.get('count')} {s.get('kind') or ''}{tail})")
        return "; ".join(parts)

    def _warning(
        self, trend: Trend | None, count: int | None, limit: int, evidence: list[str]
    ) -> str | None:
        cfg = self.config
        t = self.watch.warning(limit, cfg.warn_within) if trend is not None else None
        near = (
            t is None
            and not evidence
            and not self._near_warned
            and count is not None
            and count >= 0.9 * limit
        )
        if t is None and not near:
            return None
        self._near_warned = True
        t = t or self.last_trend
        sites = self._guard("origins", self._sites) or []
        if t is not None and t.leaking:
            steps = t.invocations_to_limit(limit)
            head = (
                f"fdscope WARNING: open descriptors grow {t.rate:.2f} per invocation "
                f"({t.shape}, confidence {t.confidence:.2f}); {count} of {limit} in use, "
                f"the limit is about {steps} invocations away"
            )
        else:
            steps = None
            head = f"fdscope WARNING: {count} of {limit} descriptors in use (90% of the limit)"
        msg = head + (f". Top creation sites: {self._sites_text(sites)}" if sites else "")
        doc = {
            "level": "WARNING",
            "logger": "fdscope",
            "event": "fd_leak_warning",
            "message": msg,
            "function_name": cfg.function_name,
            "invocation": self.invocations,
            "fd_use": count,
            "fd_max": limit,
            "rate": None if t is None else round(t.rate, 4),
            "shape": None if t is None else t.shape,
            "confidence": None if t is None else t.confidence,
            "invocations_to_limit": steps,
            "sites": sites,
        }
        from json import dumps

        return dumps(doc, separators=(",", ":"), default=str)

    def _emfile_report(
        self, st: _Start, count: int | None, limit: int, evidence: list[str]
    ) -> None:
        """The full handle report, written through descriptors already open (stdout)."""
        snap = None
        if self.proc == "/proc":
            if not registry.is_loaded("fdscope.handles"):
                self._release_reserve()  # the import and the inventory's reserve use it
            from fdscope.handles import prepare, snapshot

            self._prepared = True
            try:
                prepare()
            except OSError:
                pass  # no descriptor for a reserve: the scan below may still find one
            snap = snapshot()
        handles = list(snap.handles) if snap is not None else []
        by_kind: dict[str, int] = {}
        ends: dict[str, int] = {}
        for h in handles:
            by_kind[h.kind] = by_kind.get(h.kind, 0) + 1
            ep = h.endpoint
            if ep:
                ends[ep] = ends.get(ep, 0) + 1
        top = sorted(ends.items(), key=lambda kv: -kv[1])[:_TOP_SITES]
        sites = self._guard("origins", self._sites) or []
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1]))
        msg = (
            f"fdscope EMFILE: {count} of {limit} descriptors open after invocation "
            f"{st.invocation} (request {st.request_id or '?'}). Evidence: {'; '.join(evidence)}. "
            f"By kind: {kinds or '?'}."
        )
        if top:
            msg += " Top endpoints: " + ", ".join(f"{e} ({n})" for e, n in top) + "."
        if sites:
            msg += f" Top creation sites: {self._sites_text(sites)}."
        doc = {
            "level": "ERROR",
            "logger": "fdscope",
            "event": "emfile",
            "message": msg,
            "function_name": self.config.function_name,
            "request_id": st.request_id,
            "invocation": st.invocation,
            "fd_use": count,
            "fd_max": limit,
            "evidence": evidence,
            "by_kind": by_kind,
            "sites": sites,
            "handles": [f"{h.fd} {h.describe()}" for h in handles[:_MAX_LISTED]],
        }
        from json import dumps

        self._write(dumps(doc, separators=(",", ":"), default=str))

    def _send_origins(self, invocation: int) -> None:
        if not os.environ.get("FDSCOPE_REPORT_FD"):
            return
        if not registry.is_loaded("fdscope.origins"):
            return  # never imported here: origins costs the cold start, and is not tracking
        from fdscope import origins

        if origins.is_tracking():
            origins.send_report(invocation=invocation)
