"""Retention, a logger per pipeline run: get_logger() names the logger after the run and
gives it a FileHandler on the run's logs.jsonl; nothing closes it when the run ends (the
leaking shape of plombery's get_logger/run before its fix; see SOURCE.md). The logger stays
in logging's registry with its open file: 1 descriptor per run."""

import itertools
import logging
import os
import tempfile

DATA_PATH = os.path.join(tempfile.gettempdir(), "plombery")
_run_ids = itertools.count(1)


def get_logs_filename(run_id):
    run_dir = os.path.join(DATA_PATH, "runs", f"run_{run_id}")
    os.makedirs(run_dir, exist_ok=True)
    return os.path.join(run_dir, "logs.jsonl")


def get_logger(pipeline_id, run_id):
    json_handler = logging.FileHandler(get_logs_filename(run_id))
    logger = logging.getLogger(f"plombery.{run_id}")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(json_handler)
    return logging.LoggerAdapter(logger, {"pipeline": pipeline_id, "run_id": run_id})


def run(pipeline_id, tasks):
    run_id = next(_run_ids)
    logger = get_logger(pipeline_id, run_id)
    logger.info("Executing pipeline `%s` #%d", pipeline_id, run_id)
    data = None
    for task in tasks:
        logger.info("Executing task %s", task.__name__)
        data = task(data)
    return run_id, data


def fetch(_):
    return [3, 1, 2]


def sort(data):
    return sorted(data)


def handler(event, context):
    run_id, data = run("sales", [fetch, sort])
    return {"run": run_id, "data": data}
