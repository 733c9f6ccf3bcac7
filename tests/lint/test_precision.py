"""Lint precision on the shapes of real leaks and their upstream fixes (issue 14, item 6).

One test per shape: a handler added and removed in a ``finally:`` (a per-run context
manager) is not FDS102, while a logger named from the call's values is not guarded by a
test of its handlers; a value derived from a per-call resource and kept is FDS101; a
container bounded by its size is not; code in a SAM/CloudFormation layer is followed from
the handler that imports it. The fixture corpus (tests/fixtures/lint/corpus) holds the same
shapes with ``# expect:`` marks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fdscope.lint import Config, lint, lint_source


def _found(source: str) -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in lint_source(textwrap.dedent(source).lstrip())}


def test_add_handler_removed_in_finally_of_a_context_manager_is_not_fds102() -> None:
    # miniwdl's fix: one handler per run, closed and removed when the run ends
    assert (
        _found(
            """
        import contextlib, logging

        @contextlib.contextmanager
        def run_log(log, filename):
            fh = logging.FileHandler(filename)
            try:
                log.addHandler(fh)
                yield fh
            finally:
                fh.close()
                log.removeHandler(fh)
        """
        )
        == set()
    )


def test_add_handler_removed_on_another_logger_is_still_fds102() -> None:
    # removing a different handler does not undo this one
    assert _found(
        """
        import logging
        other = logging.StreamHandler()

        def run(log, filename):
            log.addHandler(logging.FileHandler(filename))
            try:
                log.info("x")
            finally:
                log.removeHandler(other)
        """
    ) == {(5, "FDS102")}


def test_handlers_test_does_not_guard_a_logger_per_run() -> None:
    # plombery: `if not logger.handlers` on a logger named after the run guards nothing
    assert _found(
        """
        import logging

        def get_logger(run_id, filename):
            log = logging.getLogger(f"runs.{run_id}")
            if not log.handlers:
                log.addHandler(logging.FileHandler(filename))
            return log
        """
    ) == {(6, "FDS102")}


def test_logger_per_run_released_in_a_finally_is_not_fds102() -> None:
    # plombery's fix: a helper removes and closes the handlers when the run ends
    assert (
        _found(
            """
        import logging

        def get_logger(run_id, filename):
            log = logging.getLogger(f"runs.{run_id}")
            if not log.handlers:
                log.addHandler(logging.FileHandler(filename))
            return log

        def close_logger(log):
            for h in list(log.handlers):
                log.removeHandler(h)
                h.close()

        def run(run_id):
            log = get_logger(run_id, "/tmp/x.log")
            try:
                log.info("run")
            finally:
                close_logger(log)
        """
        )
        == set()
    )


@pytest.mark.parametrize(
    ("source", "line"),
    [
        # a boto3 sub-resource keeps its resource (and its client's pool)
        (
            "import boto3\n_recent = []\ndef f(name):\n"
            "    resource = boto3.resource('dynamodb')\n    _recent.append(resource.Table(name))\n",
            4,
        ),
        # a response keeps its session's adapter and pool
        (
            "import requests\n_kept = {}\ndef f(url):\n"
            "    s = requests.Session()\n    _kept[url] = s.get(url)\n",
            4,
        ),
        # a wrapper holding the file
        (
            "import csv\n_readers = set()\ndef f(p):\n    fh = open(p)\n    _readers.add(csv.reader(fh))\n",
            4,
        ),
        # a class of the module holding it
        (
            "class Box:\n    def __init__(self, f):\n        self.f = f\n_boxes = []\n"
            "def f(p):\n    fh = open(p)\n    _boxes.append(Box(fh))\n",
            6,
        ),
    ],
)
def test_value_derived_from_a_per_call_resource_and_kept_is_fds101(source: str, line: int) -> None:
    assert (line, "FDS101") in _found(source)


def test_value_read_from_a_resource_is_not_retention() -> None:
    # a line read from the file is data, not the file
    assert (
        _found(
            """
        _lines = []

        def f(p):
            with open(p) as fh:
                _lines.append(fh.readline())
        """
        )
        == set()
    )


@pytest.mark.parametrize(
    "body",
    [
        # filled only while it has room
        "    if len(_cache) < 8:\n        _cache[key] = socket.create_connection(addr)\n",
        # a guard clause on its size
        "    if len(_cache) >= 8:\n        return\n    _cache[key] = socket.create_connection(addr)\n",
    ],
)
def test_size_guarded_cache_is_bounded_not_fds101(body: str) -> None:
    source = "import socket\n_cache = {}\ndef f(key, addr):\n" + body
    assert _found(source) == set()


@pytest.mark.parametrize(
    "made",
    ["cachetools.LRUCache(maxsize=8)", "collections.deque(maxlen=8)"],
)
def test_container_made_with_a_size_is_bounded(made: str) -> None:
    source = (
        f"import cachetools, collections, socket\n_c = {made}\n"
        "def f(key, addr):\n    _c.append(socket.create_connection(addr))\n"
        "def g(key, addr):\n    _c[key] = socket.create_connection(addr)\n"
    )
    assert _found(source) == set()


def test_unbounded_cache_is_still_fds101() -> None:
    # maxsize=None is no bound
    source = (
        "import cachetools, socket\n_c = cachetools.LRUCache(maxsize=None)\n"
        "def g(key, addr):\n    _c[key] = socket.create_connection(addr)\n"
    )
    assert _found(source) == {(4, "FDS101")}


@pytest.mark.parametrize(
    ("layer_type", "prop", "layout"),
    [
        ("AWS::Serverless::LayerVersion", "ContentUri", "layers/common/store.py"),
        ("AWS::Serverless::LayerVersion", "ContentUri", "layers/common/python/store.py"),
        ("AWS::Lambda::LayerVersion", "Content", "layers/common/python/store.py"),
    ],
)
def test_handler_chain_followed_into_a_layer(
    tmp_path: Path, layer_type: str, prop: str, layout: str
) -> None:
    files = {
        "template.yaml": f"""
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Orders:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/orders/
                  Handler: app.handler
                  Runtime: python3.12
                  Layers:
                    - !Ref Common
              Common:
                Type: {layer_type}
                Properties:
                  {prop}: layers/common/
            """,
        "functions/orders/app.py": """
            from store import save

            def handler(event, context):
                return save(event)
            """,
        layout: """
            import boto3

            def save(item):
                s3 = boto3.client("s3")
                s3.put_object(Bucket="b", Key="k", Body=b"x")
                return item
            """,
    }
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    result = lint([tmp_path], config=Config())
    got = {(Path(f.path).name, f.line, f.code) for f in result.findings}
    assert ("store.py", 5, "FDS201") in got, got
