"""Broken: the handler calls sys.exit(3)."""

import sys


def handler(event, context):
    sys.exit(3)
