"""Clean: a burst of 300 files and 20 socket pairs per invocation, every one closed."""

import os
import socket
import tempfile

SCRATCH = tempfile.gettempdir()


def handler(event, context):
    total = 0
    for i in range(300):
        with open(os.path.join(SCRATCH, f"burst-{i % 10}.txt"), "w") as f:
            total += f.write("x" * 64)
    for _ in range(20):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"ping")
            total += len(b.recv(4))
    return {"bytes": total}
