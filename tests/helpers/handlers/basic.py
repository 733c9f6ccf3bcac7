"""Handlers for the local Lambda's own tests (the corpus lives in examples/)."""

import logging
import os
import sys
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)
_kept = []

print("init: module imported")


def ok(event, context):
    print("hello from", context.aws_request_id)
    logger.info("logged %s", event.get("n") if isinstance(event, dict) else None)
    return {"statusCode": 200, "remaining": context.get_remaining_time_in_millis()}


def leak(event, context):
    _kept.append(open(os.devnull))  # noqa: SIM115  (leaks on purpose)
    return len(_kept)


def leak_pipes(event, context):
    r, w = os.pipe()
    _kept.append((r, w))
    return len(_kept)


def boom(event, context):
    raise ValueError("boom\nsecond line")


def hang(event, context):
    time.sleep(3600)


def crash(event, context):
    sys.exit(3)


def abort(event, context):
    os.abort()


def env(event, context):
    keys = event.get("keys", [])
    return {k: os.environ.get(k) for k in keys}


def flood(event, context):
    chunk = "x" * 1023 + "\n"
    for _ in range(event.get("kib", 2048)):
        sys.stdout.write(chunk)
    return "flooded"


def connect(event, context):
    import socket

    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((event["host"], event["port"]))
        return "connected"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        s.close()


def emfile(event, context):
    while True:
        _kept.append(open(os.devnull))  # noqa: SIM115  (leaks on purpose)


def grandchild(event, context):
    """Double fork; the grandchild leaves the session and outlives the handler."""
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    return "forked"


def cycle(event, context):
    """A descriptor held by a reference cycle: only the cyclic gc frees it."""

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    a.fh = open(os.devnull)  # noqa: SIM115  (freed by gc only)
    return "cycle"


def background(event, context):
    """Start a thread (once) that records a tick every 5 ms; return all the ticks."""
    import threading

    if not _kept:
        ticks = []
        _kept.append(ticks)

        def tick():
            while True:
                ticks.append(time.monotonic())  # the same clock as the parent's
                time.sleep(0.005)

        threading.Thread(target=tick, daemon=True).start()
    return list(_kept[0])


def echo(event, context):
    return {"event": event, "function": context.function_name, "arn": context.invoked_function_arn}


def maybe_hang(event, context):
    if event.get("hang"):
        time.sleep(3600)
    return "fine"


def limits(event, context):
    import resource
    import tempfile

    return {
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "tmp": tempfile.gettempdir(),
        "cwd": os.getcwd(),
        "stdin": os.readlink("/proc/self/fd/0"),
        "sid_is_pid": os.getsid(0) == os.getpid(),
    }
