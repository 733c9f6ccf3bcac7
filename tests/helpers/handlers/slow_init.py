"""A module whose import takes longer than the function timeout (Lambda allows 10 s for init)."""

import time

time.sleep(0.8)


def handler(event, context):
    return "initialised"
