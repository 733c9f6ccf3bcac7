"""Logs its retry policy, which names EMFILE and "Too many open files", on every call.

Nothing leaks and nothing fails: words in a log are not an EMFILE.
"""

import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)
RETRY_ON = ("ECONNRESET", "ETIMEDOUT", "EMFILE", "Too many open files")


def handler(event, context):
    logger.info("retry policy: retry on %s", ", ".join(RETRY_ON))
    return {"statusCode": 200}
