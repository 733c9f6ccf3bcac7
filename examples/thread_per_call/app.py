"""Threads only: a worker thread per invocation that waits for work that never comes.
No descriptor leaks, but Lambda caps threads too: at 1,024 `start()` fails."""

import queue
import threading


def _worker(jobs):
    for _ in range(3600):  # waits for an hour, or until the environment dies
        try:
            jobs.get(timeout=1)
        except queue.Empty:
            pass


def handler(event, context):
    jobs = queue.Queue()
    threading.Thread(target=_worker, args=(jobs,), daemon=True).start()
    return {"ok": True}
