"""Escapes: forks a grandchild that calls setsid() and sleeps, then returns normally."""

import os
import time


def handler(event, context):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os.setsid()
            time.sleep(3600)
        os._exit(0)
    os.waitpid(pid, 0)
    return {"forked": True}
