"""A memory leak: every invocation keeps a 1 MB buffer in a module-level list.

The list was meant as a small cache of the last rendered report; nothing ever
trims it, so the environment's memory grows by about 1 MB per invocation until
Lambda ends it for going over its memory size (Runtime.OutOfMemory), long
before any descriptor limit.
"""

RECENT_REPORTS = []


def render(event):
    return bytearray(1024 * 1024)  # the rendered report (1 MB)


def handler(event, context):
    report = render(event)
    RECENT_REPORTS.append(report)
    return {"statusCode": 200, "body": str(len(report))}
