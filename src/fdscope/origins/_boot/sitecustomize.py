"""Started by ``fdscope track``: begin tracking before the program's first line.

Put on ``PYTHONPATH`` by the CLI; imports :mod:`fdscope.origins` when
``FDSCOPE_TRACK=1`` (which starts tracking), then runs any other
``sitecustomize`` further down ``sys.path``.
"""

import os
import sys

if os.environ.get("FDSCOPE_TRACK") == "1":
    try:
        import fdscope.origins  # noqa: F401  (tracking starts at import)
    except Exception as exc:  # never break the program being tracked
        sys.stderr.write(f"fdscope: could not start tracking: {exc}\n")


def _chain() -> None:
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_chain()
