"""Fixed: the descriptor from mkstemp is closed."""

import os
import tempfile


def handler(event, context):
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        os.write(fd, b"sku,qty\nA-1,3\n")
    finally:
        os.close(fd)
    size = os.path.getsize(path)
    os.unlink(path)
    return {"bytes": size}
