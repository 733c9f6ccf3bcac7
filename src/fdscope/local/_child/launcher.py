"""The local Lambda's sandbox launcher: puts the runtime in its own namespaces.

Run by fdscope as ``python -I -S launcher.py CONFIG_JSON`` (fdscope's own
interpreter; standard library only). In order, each step on its own, each
failure noted and the run going on without that protection:

1. the network namespace fdscope made (only ``lo``, the Runtime API listening
   in it): ``setns`` into it;
2. a private mount namespace: ``/`` made private, the environment's tmp folder
   bound over ``/tmp`` (the paths the runtime needs that lie under ``/tmp``
   bound back in), the code root bound read-only onto itself;
3. a PID namespace: the launcher forks *init* (pid 1, this file again) which
   mounts a ``/proc`` of its own, forks the runtime and reaps orphans; when the
   runtime exits, or fdscope goes away (the *life* pipe reaches EOF, also after
   SIGKILL), init exits and the kernel kills everything in the namespace.
   Without a PID namespace the launcher is a child subreaper and kills every
   descendant itself;
4. the runtime: its own session, Lambda's descriptor limit, a user namespace
   without a uid mapping (no capabilities, so the limit cannot be raised),
   then ``exec``.

The launcher reports one JSON line on the status descriptor once the runtime
has exec'd (or failed to), then waits and ends as the runtime ended (the same
exit status or signal), so fdscope sees the runtime's fate as its own child's.
"""

import ctypes
import json
import os
import resource
import select
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags) -> None:  # type: ignore[no-untyped-def]
    enc = [None if v is None else os.fsencode(v) for v in (src, target, fstype)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, None), f"mount {target}")


def _unshare(flags: int, what: str) -> None:
    _check(_libc.unshare(flags), f"unshare({what})")


def _note(notes: list, step: str, exc: BaseException) -> None:
    notes.append(f"{step}: {exc}")


def _private_tmp(tmp: str, keep: list) -> None:
    """Bind ``tmp`` over ``/tmp``; bind each path of ``keep`` (under /tmp) back."""
    held = []
    for path in keep:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        held.append((path, fd, os.path.isdir(path)))
    _mount(tmp, "/tmp", None, MS_BIND | MS_REC)
    for path, fd, is_dir in held:
        try:
            if is_dir:
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if not os.path.exists(path):
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        finally:
            os.close(fd)


def _read_only(path: str) -> None:
    _mount(path, path, None, MS_BIND | MS_REC)
    _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _exec_runtime(cfg: dict, ipc_w: int, close: list) -> None:
    """In the runtime's process: session, limit, user namespace, exec. Never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        for fd in close:
            try:
                os.close(fd)
            except OSError:
                pass
        os.setsid()
        limit = cfg["fd_limit"]
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        dropped = ""
        if cfg.get("user"):
            try:
                _unshare(CLONE_NEWUSER, "CLONE_NEWUSER")
                dropped = "ok"
            except OSError as exc:
                dropped = str(exc)
        os.chdir(cfg["cwd"])
        os.write(ipc_w, (json.dumps({"pid": os.getpid(), "user": dropped}) + "\n").encode())
        cmd = cfg["cmd"]
        try:
            os.execvp(cmd[0], cmd)
        except OSError as exc:
            os.write(ipc_w, (json.dumps({"exec_error": str(exc)}) + "\n").encode())
    except BaseException as exc:  # noqa: BLE001  (report anything, then exit)
        try:
            os.write(ipc_w, (json.dumps({"exec_error": repr(exc)}) + "\n").encode())
        except OSError:
            pass
    os._exit(127)


def _children(pid: int) -> list:
    out: list = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return out


def _kill_descendants() -> None:
    """SIGKILL every descendant (orphans come to us: a subreaper) and reap them."""
    me = os.getpid()
    for _ in range(1000):
        seen, i = [me], 0
        while i < len(seen):
            seen.extend(c for c in _children(seen[i]) if c not in seen)
            i += 1
        rest = seen[1:]
        for pid in rest:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            if not rest:
                return
        if not rest:
            return
        select.select([], [], [], 0.005)


def _init(cfg: dict, life: int, ipc_w: int, report_w: int, *, pid_ns: bool) -> None:
    """Fork the runtime, reap orphans, end when it ends or fdscope goes. Never returns."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    runtime = os.fork()
    if runtime == 0:
        _exec_runtime(cfg, ipc_w, [life, wake_r, wake_w, report_w])
    os.close(ipc_w)
    status = None
    while status is None:
        try:
            ready, _, _ = select.select([life, wake_r], [], [])
        except InterruptedError:
            ready = []
        if life in ready and not os.read(life, 64):
            break  # fdscope is gone
        if wake_r in ready:
            os.read(wake_r, 4096)
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == runtime:
                status = st
    if not pid_ns:
        _kill_descendants()
    if status is not None:
        try:
            os.write(report_w, (json.dumps({"status": status}) + "\n").encode())
        except OSError:
            pass
    os._exit(0)


def _mirror(status) -> None:  # type: ignore[no-untyped-def]
    """End as the runtime ended: the same signal or exit status."""
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    if status is not None and os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    os._exit(1)


def _lines(fd: int) -> list:
    """JSON lines read from ``fd`` until EOF."""
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _setup(cfg: dict) -> tuple:
    """Network, mount and PID namespaces, each on its own: (what it got, notes)."""
    notes: list = []
    got = {"network": False, "mount": False, "tmp": False, "code_root": False, "pid": False}
    netns = cfg.get("netns_fd", -1)
    if netns >= 0:
        try:
            _check(_libc.setns(netns, CLONE_NEWNET), "setns(CLONE_NEWNET)")
            got["network"] = True
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "network namespace", exc)
        os.close(netns)
    if cfg.get("mount"):
        try:
            _unshare(CLONE_NEWNS, "CLONE_NEWNS")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            got["mount"] = True
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "mount namespace", exc)
    if got["mount"] and got["network"]:
        try:  # /sys/class/net as the namespace has it (only lo)
            _mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "/sys of the network namespace", exc)
    if got["mount"] and cfg.get("tmp"):
        try:
            _private_tmp(cfg["tmp"], cfg.get("keep", []))
            got["tmp"] = True
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "private /tmp", exc)
    if got["mount"] and cfg.get("code_root"):
        try:
            _read_only(cfg["code_root"])
            got["code_root"] = True
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "read-only code root", exc)
    if cfg.get("pid"):
        try:
            _unshare(CLONE_NEWPID, "CLONE_NEWPID")
            got["pid"] = True
        except Exception as exc:  # noqa: BLE001  (noted; the run goes on without it)
            _note(notes, "PID namespace", exc)
    return got, notes


def main() -> None:
    cfg = json.loads(sys.argv[1])
    got, notes = _setup(cfg)
    life, report_fd = cfg["life_fd"], cfg["status_fd"]
    ipc_r, ipc_w = os.pipe()
    exit_r, exit_w = os.pipe()
    init = os.fork()
    if init == 0:  # init: pid 1 of the PID namespace, or a subreaper without one
        os.close(ipc_r)
        os.close(exit_r)
        os.close(report_fd)
        if got["pid"] and got["mount"]:
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError:
                pass  # the host's /proc stays: it names host pids
        if not got["pid"]:
            try:
                _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")
            except OSError:
                pass  # reported by fdscope: the descendants are then killed by token
        _init(cfg, life, ipc_w, exit_w, pid_ns=got["pid"])
    os.close(ipc_w)
    os.close(exit_w)
    os.close(life)
    msgs = _lines(ipc_r)
    os.close(ipc_r)
    ready = {"init_pid": init, "got": got, "notes": notes}
    for m in msgs:
        ready.update(m)
    try:
        os.write(report_fd, (json.dumps(ready) + "\n").encode())
    except OSError:
        pass
    os.close(report_fd)
    final = _lines(exit_r)
    status = next((m["status"] for m in final if "status" in m), None)
    try:
        os.waitpid(init, 0)
    except OSError:
        pass
    _mirror(status)


if __name__ == "__main__":
    main()
