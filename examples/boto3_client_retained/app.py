"""Retention, with boto3: a client per invocation kept in a module-level list "to close later"."""

import boto3

BUCKET = "orders"
_clients = []


def handler(event, context):
    s3 = boto3.client("s3", region_name="us-east-1")
    _clients.append(s3)
    s3.list_objects_v2(Bucket=BUCKET)
    return {"ok": True}
