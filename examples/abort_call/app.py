"""Broken: the handler calls os.abort()."""

import os


def handler(event, context):
    os.abort()
