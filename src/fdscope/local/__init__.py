"""The local Lambda: a handler run as Lambda runs it, sampled from outside.

``LocalLambda(handler, out_dir=...)`` serves the Lambda Runtime API on
127.0.0.1, starts the real runtime interface client (``awslambdaric``) in a
child process under Lambda's limits (1,024 descriptors, a private ``/tmp``,
the ``AWS_LAMBDA_*`` variables, no credentials, no network but loopback) and
runs one invocation at a time; ``run(handler, n, ...)`` does ``n`` of them.
The run directory holds ``run.json``, ``events.jsonl`` (the log events as
CloudWatch would hold them), ``samples.jsonl`` (descriptors counted from
outside after every invocation) and ``origins.jsonl``. Sample events for
common triggers come from :func:`sample_event`.
"""

from __future__ import annotations

from fdscope.errors import DoctorError
from fdscope.local._aws import (
    LOCAL,
    EndpointCheck,
    HandlerEndpoint,
    LocalAWS,
    check_endpoint,
    handler_endpoint,
    validate_endpoint,
)
from fdscope.local._events import EVENT_TYPES, sample_event
from fdscope.local._local import LocalLambda, run
from fdscope.local._records import (
    STATUSES,
    EnvironmentRecord,
    RunDirError,
    RunLock,
    RunResult,
    Sample,
    Terminated,
    check_run_dir,
    claim_run_dir,
    interruption,
    mark_interrupted,
    read_run,
    sigterm_raises,
    write_atomic,
)
from fdscope.local._sandbox import describe as sandbox_lacks
from fdscope.local._sandbox import lambda_differences
from fdscope.local.runtimes import (
    Handler,
    HandlerError,
    NodeClient,
    NodeRuntime,
    PythonRuntime,
    Runtime,
    install_node_client,
    parse_handler,
    select_runtime,
)

__all__ = [
    "EVENT_TYPES",
    "LOCAL",
    "STATUSES",
    "DoctorError",
    "EndpointCheck",
    "EnvironmentRecord",
    "Handler",
    "HandlerEndpoint",
    "HandlerError",
    "LocalAWS",
    "LocalLambda",
    "NodeClient",
    "NodeRuntime",
    "PythonRuntime",
    "RunDirError",
    "RunLock",
    "RunResult",
    "Runtime",
    "Sample",
    "Terminated",
    "check_endpoint",
    "check_run_dir",
    "claim_run_dir",
    "handler_endpoint",
    "install_node_client",
    "lambda_differences",
    "interruption",
    "mark_interrupted",
    "parse_handler",
    "read_run",
    "run",
    "sample_event",
    "sandbox_lacks",
    "select_runtime",
    "sigterm_raises",
    "validate_endpoint",
    "write_atomic",
]
