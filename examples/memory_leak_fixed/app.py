"""The memory leak's fix: keep only the last report (a bounded cache)."""

import collections

RECENT_REPORTS = collections.deque(maxlen=1)


def render(event):
    return bytearray(1024 * 1024)  # the rendered report (1 MB)


def handler(event, context):
    report = render(event)
    RECENT_REPORTS.append(report)
    return {"statusCode": 200, "body": str(len(report))}
