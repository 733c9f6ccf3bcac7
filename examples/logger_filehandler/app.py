"""Retention: a logging.FileHandler added to a module-level logger on every invocation."""

import logging
import os
import tempfile

logger = logging.getLogger("orders")
logger.setLevel(logging.INFO)
LOG_PATH = os.path.join(tempfile.gettempdir(), "orders.log")


def handler(event, context):
    logger.addHandler(logging.FileHandler(LOG_PATH))
    logger.info("order received")
    return {"ok": True}
