"""Noisy but clean: prints about 2 MB per invocation."""

LINE = "x" * 1023


def handler(event, context):
    for i in range(2048):
        print(i, LINE)
    return {"ok": True}
