"""Starts a background process per call and never waits for it (fire and forget).

The function's own descriptors stay flat; processes pile up, each with its stdin,
stdout and stderr: 3 descriptors and 1 process per invocation, until Lambda's cap of
1,024 processes and threads.
"""

import subprocess


def handler(event, context):
    subprocess.Popen(["sleep", "600"])
    return {"statusCode": 202}
