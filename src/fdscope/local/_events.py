"""Sample events for common triggers, in the shapes AWS documents.

Bundled as JSON files in ``fdscope/local/events/``: API Gateway REST (proxy,
payload 1.0) and HTTP API (payload 2.0), Application Load Balancer, SQS, S3,
EventBridge and an EventBridge scheduled event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError

_DIR = Path(__file__).resolve().parent / "events"

EVENT_TYPES: tuple[str, ...] = (
    "alb",
    "apigw-http",
    "apigw-rest",
    "eventbridge",
    "s3",
    "scheduled",
    "sqs",
)


def sample_event(event_type: str) -> dict[str, Any]:
    """A fresh copy of the bundled event ``event_type``; raises DoctorError if unknown."""
    if event_type not in EVENT_TYPES:
        raise DoctorError(
            f"unknown event type {event_type!r}; choose one of {', '.join(EVENT_TYPES)}"
        )
    data: dict[str, Any] = json.loads((_DIR / f"{event_type}.json").read_text())
    return data
