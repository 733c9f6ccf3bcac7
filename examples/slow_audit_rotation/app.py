"""Retention, slow: the audit file is rotated every 5th invocation and the old one is never closed."""

import itertools
import os
import tempfile

AUDIT_DIR = tempfile.gettempdir()
ROTATE_EVERY = 5
_calls = itertools.count()
_audit_files = []


def handler(event, context):
    n = next(_calls)
    if n % ROTATE_EVERY == 0:
        _audit_files.append(open(os.path.join(AUDIT_DIR, f"audit-{n}.log"), "a"))
    _audit_files[-1].write("event\n")
    return {"ok": True}
