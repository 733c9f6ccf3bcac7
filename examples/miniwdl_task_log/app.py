"""Retention, a log file per run: each run gets its own logger and its own task.log, and
nothing closes the file when the run ends (the leaking shape of miniwdl's run_local_task
before its fix; see SOURCE.md). The per-run logger lives on in logging's registry, so its
FileHandler keeps the file open: 1 descriptor per invocation."""

import logging
import os
import tempfile

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def provision_run_dir(run_id):
    run_dir = os.path.join(tempfile.gettempdir(), "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    return run_dir


def run_task(name, inputs, run_id):
    run_dir = provision_run_dir(run_id)
    logger = logging.getLogger("wdl.t:" + run_id)
    logger.setLevel(logging.INFO)
    fh = logging.FileHandler(os.path.join(run_dir, "task.log"))
    fh.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(fh)
    logger.info("task start: %s in %s", name, run_dir)
    outputs = {"total": sum(inputs)}
    logger.info("done")
    return run_dir, outputs


def handler(event, context):
    run_dir, outputs = run_task("add", [1, 2, 3], context.aws_request_id)
    return {"run_dir": run_dir, "outputs": outputs}
