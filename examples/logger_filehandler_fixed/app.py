"""Fixed: the handler is added once, at module scope."""

import logging
import os
import tempfile

logger = logging.getLogger("orders")
logger.setLevel(logging.INFO)
LOG_PATH = os.path.join(tempfile.gettempdir(), "orders.log")
logger.addHandler(logging.FileHandler(LOG_PATH))


def handler(event, context):
    logger.info("order received")
    return {"ok": True}
