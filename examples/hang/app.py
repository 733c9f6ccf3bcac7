"""Broken: the handler never returns; every invocation times out."""

import time


def handler(event, context):
    time.sleep(3600)
