"""Broken: every invocation raises."""


def handler(event, context):
    raise ValueError("order service misconfigured")
