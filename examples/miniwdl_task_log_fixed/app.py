"""Fixed as upstream fixed it: a context manager adds the run's FileHandler and, in its
`finally`, closes the file and removes the handler when the run ends."""

import contextlib
import logging
import os
import tempfile

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


@contextlib.contextmanager
def logging_file_handler(logger, filename):
    fh = logging.FileHandler(filename)
    try:
        logger.addHandler(fh)
        yield fh
    finally:
        fh.flush()
        fh.close()
        logger.removeHandler(fh)


def provision_run_dir(run_id):
    run_dir = os.path.join(tempfile.gettempdir(), "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    return run_dir


def run_task(name, inputs, run_id):
    run_dir = provision_run_dir(run_id)
    logger = logging.getLogger("wdl.t:" + run_id)
    logger.setLevel(logging.INFO)
    with logging_file_handler(logger, os.path.join(run_dir, "task.log")) as fh:
        fh.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.info("task start: %s in %s", name, run_dir)
        outputs = {"total": sum(inputs)}
        logger.info("done")
    return run_dir, outputs


def handler(event, context):
    run_dir, outputs = run_task("add", [1, 2, 3], context.aws_request_id)
    return {"run_dir": run_dir, "outputs": outputs}
