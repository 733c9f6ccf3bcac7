"""A module that fails at import: every invocation is an init error."""

raise RuntimeError("cannot start: missing configuration")


def handler(event, context):  # pragma: no cover - never reached
    return "unreachable"
