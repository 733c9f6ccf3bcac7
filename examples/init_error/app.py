"""Broken: the module fails at import (init error)."""

import os

CONFIG = os.environ["ORDERS_TABLE_NAME_THAT_IS_NOT_SET"]


def handler(event, context):
    return {"table": CONFIG}
