"""The local Lambda's sandbox, fdscope's side (the runtime's side is ``_child/launcher.py``).

Each environment gets, where the machine allows it (as root on Linux):

- a **network namespace** with only ``lo`` up, made by a short-lived thread of
  fdscope (``unshare(CLONE_NEWNET)`` is per thread) that also creates the
  Runtime API's listening socket in it and listeners for the user's endpoints on
  the host's loopback (``--aws-endpoint``, ``AWS_ENDPOINT_URL*``), each forwarded
  to the host by :class:`Forwarder`: a socket belongs to the namespace it was
  created in, and fdscope's threads keep serving it from the host's;
- a private **mount namespace** (the code root read-only, ``/tmp`` the
  environment's own), a **PID namespace** (everything dies with its init, which
  dies with the runtime or with fdscope, even after SIGKILL: the *life* pipe) and
  a **user namespace** without a mapping (no capabilities: Lambda's descriptor
  limit cannot be raised), all made by the launcher.

Whatever cannot be had is said (:func:`describe`, ``run.json``'s ``sandbox``) and
the run goes on without it: the network then falls back to the Python runtime's
audit hook, the PID namespace to a subreaper plus the environment token.
``FDSCOPE_SANDBOX=0`` turns it all off; ``FDSCOPE_SANDBOX=no-net,no-pid,no-mount,
no-user`` turns off single parts (tests of the fallbacks).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fdscope.errors import DoctorError

SANDBOX_VAR = "FDSCOPE_SANDBOX"
LAUNCHER = Path(__file__).resolve().parent / "_child" / "launcher.py"
CLONE_NEWNET = 0x40000000
READY_TIMEOUT_S = 30.0  # a busy machine: the launcher is one Python start-up

T = TypeVar("T")


@dataclass(frozen=True)
class Want:
    """The protections to try (all of them unless ``FDSCOPE_SANDBOX`` says otherwise)."""

    net: bool = True
    pid: bool = True
    mount: bool = True
    user: bool = True

    @property
    def any(self) -> bool:
        return self.net or self.pid or self.mount or self.user


def wanted(environ: Mapping[str, str] | None = None) -> Want:
    """What ``FDSCOPE_SANDBOX`` asks for (``0``/``off``: nothing; ``no-X,...``: all but X)."""
    value = (os.environ if environ is None else environ).get(SANDBOX_VAR, "1").strip().lower()
    if value in ("0", "off", "false", "no"):
        return Want(False, False, False, False)
    if sys.platform != "linux":
        return Want(False, False, False, False)
    off = {part.strip() for part in value.split(",")}
    return Want(
        net="no-net" not in off,
        pid="no-pid" not in off,
        mount="no-mount" not in off,
        user="no-user" not in off,
    )


# -- the network namespace ------------------------------------------------------
_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _lo_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace (SIOCSIFFLAGS)."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))  # IFF_UP


def in_new_netns(build: Callable[[], T]) -> tuple[int, T]:
    """Run ``build`` in a new network namespace (only ``lo``, up); return a descriptor
    of the namespace and what ``build`` made (sockets made there stay there).

    A thread of its own does it: the namespace is the thread's, and it ends with
    it. Raises OSError when the namespace cannot be had.
    """
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            if _c().unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
            _lo_up()
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                out["value"] = build()
            except BaseException:
                os.close(fd)
                raise
            out["fd"] = fd
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller)
            out["error"] = exc

    t = threading.Thread(target=run, name="fdscope-netns", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["fd"], out["value"]


# -- endpoints on the host's loopback, forwarded into the namespace ---------------
def loopback_endpoints(aws_endpoint: str | None, env: Mapping[str, str]) -> list[tuple[str, int]]:
    """``(host, port)`` of each endpoint URL on the host's loopback the function is
    given (``--aws-endpoint``, ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``)."""
    urls = [aws_endpoint] if aws_endpoint else []
    urls += [v for k, v in env.items() if k.startswith("AWS_ENDPOINT_URL")]
    found: list[tuple[str, int]] = []
    for url in urls:
        try:
            parts = urlsplit(url if "//" in url else f"http://{url}")
            host, port = parts.hostname or "", parts.port
        except ValueError:
            continue
        if port is None:
            port = 443 if parts.scheme == "https" else 80
        if _is_loopback(host) and (host, port) not in found:
            found.append((host, port))
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_for(endpoints: Iterable[tuple[str, int]]) -> list[tuple[socket.socket, tuple[str, int]]]:
    """Listening sockets (in the calling thread's namespace) for each endpoint:
    ``localhost`` on both 127.0.0.1 and ::1 (where IPv6 is there)."""
    out: list[tuple[socket.socket, tuple[str, int]]] = []
    for host, port in endpoints:
        addrs = ["127.0.0.1", "::1"] if host == "localhost" else [host]
        for addr in addrs:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
                s.listen(64)
            except OSError:
                s.close()
                if addr == "::1":
                    continue  # no IPv6 loopback: 127.0.0.1 serves localhost
                raise
            out.append((s, (host, port)))
    return out


class Forwarder:
    """Serves the namespace's endpoint listeners: each connection is relayed to the
    same endpoint on the host's loopback (connected from fdscope's own namespace)."""

    def __init__(self, listeners: list[tuple[socket.socket, tuple[str, int]]]) -> None:
        self.listeners = listeners
        self._stop_r, self._stop_w = os.pipe()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="fdscope-forward", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._stop_r, selectors.EVENT_READ, None)
            for s, target in self.listeners:
                sel.register(s, selectors.EVENT_READ, target)
            while True:
                for key, _ in sel.select():
                    if key.data is None:
                        return
                    try:
                        conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                    except OSError:
                        continue
                    threading.Thread(target=self._relay, args=(conn, key.data), daemon=True).start()
        except (OSError, ValueError):
            return
        finally:
            sel.close()

    def _relay(self, inner: socket.socket, target: tuple[str, int]) -> None:
        try:
            outer = socket.create_connection(target, timeout=10)
        except OSError:
            inner.close()
            return
        outer.settimeout(None)
        with self._lock:
            self._conns.update((inner, outer))
        sel = selectors.DefaultSelector()
        peers = {inner: outer, outer: inner}
        open_ = {inner, outer}
        try:
            for s in peers:
                sel.register(s, selectors.EVENT_READ)
            while open_:
                for key, _ in sel.select():
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        try:
                            peers[src].sendall(data)
                            continue
                        except OSError:
                            pass
                    sel.unregister(src)
                    open_.discard(src)
                    with contextlib.suppress(OSError):
                        peers[src].shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass
        finally:
            sel.close()
            with self._lock:
                self._conns.difference_update((inner, outer))
            inner.close()
            outer.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._thread.join(timeout=5.0)
        for s, _ in self.listeners:
            s.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)


# -- the launch -------------------------------------------------------------------
def keep_paths(candidates: Iterable[str | Path]) -> list[str]:
    """The folders under ``/tmp`` that hold one of ``candidates`` (as given and
    resolved), by their first component (``/tmp/X`` for ``/tmp/X/...``): bound back
    into the environment's private ``/tmp``, so a code root, a virtual environment
    (its ``pyvenv.cfg`` beside ``bin/``) or a layer under ``/tmp`` stays whole."""
    found: set[str] = set()
    for c in candidates:
        if not c:
            continue
        for p in {os.path.abspath(str(c)), os.path.realpath(str(c))}:
            parts = p.split("/")
            if len(parts) > 2 and parts[1] == "tmp" and parts[2]:
                top = f"/tmp/{parts[2]}"
                if os.path.isdir(top):
                    found.add(top)
    return sorted(found)


def path_values(cmd: list[str], env: Mapping[str, str]) -> list[str]:
    """Absolute paths in a command line and in the path-like variables of ``env``."""
    out = [a for a in cmd if a.startswith("/")]
    for key, value in env.items():
        if key.startswith(("AWS_LAMBDA_", "LAMBDA_", "_FDSCOPE", "FDSCOPE_NEXT")) or key in (
            "PYTHONPATH",
            "NODE_PATH",
            "TMPDIR",
        ):
            out.extend(p for p in value.split(os.pathsep) if p.startswith("/"))
    return out


@dataclass
class RuntimeProcess:
    """The runtime as :mod:`fdscope.local` sees it: its host pid, and the launcher's
    fate (which is the runtime's: the launcher ends as the runtime ended)."""

    launcher: subprocess.Popen[bytes]
    pid: int  # the runtime's pid on the host (what ps shows)
    init_pid: int  # the namespace's init (or the subreaper)
    life_w: int  # closing it ends the environment, even when fdscope is killed
    record: dict[str, Any] = field(default_factory=dict)

    def poll(self) -> int | None:
        return self.launcher.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.launcher.wait(timeout)

    @property
    def returncode(self) -> int | None:
        return self.launcher.returncode

    def release(self) -> None:
        """Close the life pipe: init ends and takes every process of the environment."""
        if self.life_w >= 0:
            with contextlib.suppress(OSError):
                os.close(self.life_w)
            self.life_w = -1


def launch(
    cmd: list[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    out_fd: int,
    pass_fds: tuple[int, ...],
    fd_limit: int,
    want: Want,
    netns_fd: int,
    tmp: str,
    code_root: str,
    keep: list[str],
) -> RuntimeProcess:
    """Start the runtime through the launcher; return once it has exec'd.

    Raises :class:`DoctorError` when the runtime cannot be started (the same
    message as without a sandbox) or the launcher does not answer.
    """
    life_r, life_w = os.pipe()
    stat_r, stat_w = os.pipe()
    fds = [life_r, stat_w] + ([netns_fd] if netns_fd >= 0 else [])
    cfg = {
        "cmd": cmd,
        "cwd": cwd,
        "fd_limit": fd_limit,
        "life_fd": life_r,
        "status_fd": stat_w,
        "netns_fd": netns_fd,
        "mount": want.mount,
        "tmp": tmp if want.mount else "",
        "code_root": code_root if want.mount and _can_protect(code_root, tmp) else "",
        "keep": keep,
        "pid": want.pid,
        "user": want.user,
    }
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=out_fd,
            pass_fds=(*pass_fds, *fds),
            start_new_session=True,
            cwd="/",
            env=dict(env),
        )
    except OSError as exc:
        for fd in (life_r, life_w, stat_r, stat_w):
            os.close(fd)
        raise DoctorError(f"cannot start the sandbox launcher ({sys.executable}): {exc}")
    os.close(life_r)
    os.close(stat_w)
    try:
        ready = _read_ready(stat_r)
    finally:
        os.close(stat_r)
    if ready is None or "exec_error" in ready or "pid" not in ready:
        os.close(life_w)
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
        if ready is not None and "exec_error" in ready:
            raise DoctorError(f"cannot start the runtime ({cmd[0]}): {ready['exec_error']}")
        raise DoctorError("the sandbox launcher did not start the runtime (see events.jsonl)")
    got = ready.get("got", {})
    init_pid = int(ready["init_pid"])
    pid = int(ready["pid"])
    if got.get("pid"):
        pid = host_pid(init_pid, pid)
    notes: list[str] = list(ready.get("notes", []))
    if want.user and ready.get("user") not in ("ok", None, ""):
        notes.append(f"user namespace: {ready['user']}")
    record: dict[str, Any] = {
        "pid_namespace": bool(got.get("pid")),
        "code_root": "read-only" if got.get("code_root") else "writable",
        "tmp": "private" if got.get("tmp") else "shared",
        "privileges": "dropped" if ready.get("user") == "ok" else "root",
        "notes": notes,
    }
    return RuntimeProcess(proc, pid, init_pid, life_w, record)


def _can_protect(code_root: str, tmp: str) -> bool:
    """A code root that holds ``/tmp`` (``/``, ``/tmp``) cannot be made read-only."""
    root = os.path.realpath(code_root)
    return not ("/tmp/".startswith(root.rstrip("/") + "/") or tmp.startswith(root + "/"))


def _read_ready(fd: int) -> dict[str, Any] | None:
    """The launcher's JSON line (``None`` at EOF or after :data:`READY_TIMEOUT_S`)."""
    data = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    try:
        value = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def host_pid(init_pid: int, ns_pid: int) -> int:
    """The host pid of the child of ``init_pid`` that is ``ns_pid`` in its namespace."""
    from fdscope.local import _procs

    for child in _procs.children_of(init_pid):
        try:
            with open(f"/proc/{child}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"NSpid:"):
                        if int(line.split()[-1]) == ns_pid:
                            return child
                        break
        except (OSError, ValueError):
            continue
    raise DoctorError(f"the runtime (pid {ns_pid} in its namespace) is gone at its start")


def network_mode(netns: bool, allow_network: bool, guard: bool) -> str:
    """``namespace`` (only loopback), ``audit-hook`` (Python's guard alone) or ``none``."""
    if allow_network:
        return "none"
    if netns:
        return "namespace"
    return "audit-hook" if guard else "none"


def describe(record: Mapping[str, Any]) -> list[str]:
    """One line per protection the run lacks (empty when it has them all)."""
    lines: list[str] = []
    if not record:
        return lines
    if not record.get("pid_namespace"):
        lines.append("no PID namespace: descendants are found by token and a subreaper")
    net = record.get("network")
    if net == "audit-hook":
        lines.append("no network namespace: only Python's socket.connect is refused")
    elif net == "none" and not record.get("network_allowed"):
        lines.append("no network guard: the function can reach beyond loopback")
    if record.get("code_root") != "read-only":
        lines.append("the code root is writable (read-only /var/task on Lambda)")
    if record.get("tmp") != "private":
        lines.append("/tmp is the machine's (Lambda's /tmp is the environment's own)")
    if record.get("privileges") != "dropped":
        lines.append("the function runs with root's privileges (it can raise its fd limit)")
    return lines


def lambda_differences(samples: Iterable[Any], code_root: str) -> list[str]:
    """What the run met that Lambda does differently from a machine, one line each:
    a write into the code root (read-only as ``/var/task`` on Lambda, here too)."""
    root = str(code_root).rstrip("/") + "/"
    for s in samples:
        text = f"{getattr(s, 'error_message', '') or ''}"
        if "Read-only file system" in text and (root in text or "EROFS" in text):
            return [
                "Lambda difference: the function writes into its code root, which is "
                "read-only on Lambda (/var/task) and here: write to /tmp instead "
                f"({text.strip()[:200]})"
            ]
    return []
