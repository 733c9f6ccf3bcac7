"""Node.js in the local Lambda: :class:`NodeRuntime` and the choice of a runtime.

``node bootstrap.mjs`` plays Lambda's ``/var/runtime/index.mjs`` with Lambda's
node flags (``--expose-gc``, ``--max-http-header-size 81920``, heap sizes from
the memory setting) and ``NODE_PATH`` (the layers' ``nodejs/nodeNN/node_modules``
and ``nodejs/node_modules``, as ``/opt``, then the code root, as ``/var/task``).
The runtime interface client is the real ``aws-lambda-ric`` from the function's
``node_modules`` or fdscope's cache (``fdscope setup node``), else fdscope's
pure-JavaScript stand-in (:mod:`._node_client`); ``run.json`` says which ran.

There is no in-process network guard for Node (Python's is an audit hook in the child);
the sandbox's network namespace guards both where the machine allows it:
``run.json`` says so (``network_guard: false``).

:func:`select_runtime` picks the runtime for a handler string: from the file
(``.py`` or ``.js``/``.mjs``/``.cjs``), from ``--runtime`` (``python3.X``,
``nodejsNN.x``), or from what the code root holds for ``module.handler``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError
from fdscope.local.runtimes import _node_client
from fdscope.local.runtimes.base import Handler, HandlerError, Runtime

NODE_SUFFIXES = (".js", ".mjs", ".cjs")
RUNTIME_IDS = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
MIN_NODE = 18
_FUNC = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_TS_HINT = (
    "TypeScript runs on Lambda as the JavaScript it compiles to: build it first "
    "(tsc, esbuild or `sam build`) and name the .js file it produces, e.g. dist/app.js:handler"
)


def parse_node_handler(text: str, code_root: Path | None = None) -> Handler:
    """``path/to/app.js:handler`` (also ``.mjs``, ``.cjs``; ``handler`` may be a
    nested ``a.b``) or Lambda's ``dir/module.handler`` with ``code_root``."""
    if ":" in text:
        path_text, _, func = text.rpartition(":")
        path = Path(path_text)
        if path.suffix in (".ts", ".mts", ".cts"):
            raise HandlerError(f"bad handler {text!r}: {_TS_HINT}")
        if not _FUNC.match(func):
            raise HandlerError(f"bad handler {text!r}: {func!r} is not an export name")
        if path.suffix not in NODE_SUFFIXES:
            raise HandlerError(f"bad handler {text!r}: expected path/to/file.js:function")
        if not path.is_absolute() and code_root is not None:
            path = code_root / path
        if not path.is_file():
            raise HandlerError(f"handler file not found: {path}")
        return Handler(f"{path.stem}.{func}", path.resolve().parent)
    root = Path(code_root) if code_root is not None else Path.cwd()
    if not root.is_dir():
        raise HandlerError(f"code root is not a directory: {root}")
    module, func = _split_module(text)
    if not module or not func or not _FUNC.match(func) or ".." in text:
        raise HandlerError(
            f"bad handler {text!r}: expected dir/module.function or file.js:function"
        )
    if not node_files(root, module) and any(
        (root / f"{module}{s}").is_file() for s in (".ts", ".mts", ".cts")
    ):
        raise HandlerError(f"handler {text!r} names a TypeScript file: {_TS_HINT}")
    return Handler(text, root.resolve())


def _split_module(text: str) -> tuple[str, str]:
    """Lambda's split: the folder part, then ``module.function`` at the first dot."""
    folder, _, base = text.rpartition("/")
    module, dot, func = base.partition(".")
    if not dot:
        return "", ""
    return (f"{folder}/{module}" if folder else module), func


def node_files(root: Path, module: str) -> list[Path]:
    """The files Lambda's Node runtime would load for ``module`` under ``root``."""
    base = root / module
    found = [base] if base.is_file() else []
    found += [p for p in (base.with_name(base.name + s) for s in NODE_SUFFIXES) if p.is_file()]
    return found


def _python_files(root: Path, module: str) -> list[Path]:
    base = root / module.replace(".", "/")
    return [p for p in (base.with_name(base.name + ".py"), base / "__init__.py") if p.is_file()]


class NodeRuntime(Runtime):
    """Node.js (18 or newer) with the real ``aws-lambda-ric`` or fdscope's stand-in."""

    language = "nodejs"
    reserved = ("_FDSCOPE_NODE_CLIENT", "_FDSCOPE_NODE_PRELOAD")
    in_function_monitor = False  # fdscope.monitor is Python's
    network_guard = False  # no in-process guard (Python's audit hook); the netns guards both
    socket_files = True  # aws-serverless-express binds /tmp/server-*.sock

    def __init__(
        self, node: str | None = None, *, runtime_id: str | None = None, client: str = "auto"
    ) -> None:
        if runtime_id is not None and runtime_id not in RUNTIME_IDS:
            raise DoctorError(
                f"unknown runtime {runtime_id!r}; choose one of {', '.join(RUNTIME_IDS)}"
            )
        if client not in ("auto", "ric", "standin"):
            raise DoctorError(f"unknown runtime client {client!r}: auto, ric or standin")
        self.node = _node_client.find_node(node)
        self.runtime_id = runtime_id
        self.client_choice = client
        self._version: str | None = None
        self._client: _node_client.NodeClient | None = None
        self._code_root: Path | None = None

    # -- the handler -------------------------------------------------------------
    def parse_handler(self, text: str, code_root: Path | None = None) -> Handler:
        handler = parse_node_handler(text, code_root)
        self._code_root = handler.code_root
        return handler

    # -- what to start -------------------------------------------------------------
    def version(self) -> str:
        if self._version is None:
            version = _node_client.node_version(self.node)
            major = int(version.split(".")[0])
            if major < MIN_NODE:
                raise DoctorError(
                    f"{self.node} is Node {version}: Lambda's Node runtimes start at "
                    f"{MIN_NODE} (name another with --node PATH)"
                )
            if self.runtime_id is not None and self.runtime_id != f"nodejs{major}.x":
                raise DoctorError(
                    f"--runtime {self.runtime_id} but {self.node} is Node {version}: "
                    f"name a matching node with --node PATH, or --runtime nodejs{major}.x"
                )
            self._version = version
        return self._version

    @property
    def major(self) -> int:
        return int(self.version().split(".")[0])

    @property
    def lambda_runtime(self) -> str:
        """Lambda's identifier, ``nodejs20.x``."""
        return self.runtime_id or f"nodejs{self.major}.x"

    def client(self) -> _node_client.NodeClient:
        """The runtime interface client this runtime starts (chosen once)."""
        if self._client is None:
            root = self._code_root or Path.cwd()
            self._client = _node_client.find_client(root, self.major, client=self.client_choice)
        return self._client

    def execution_env(self) -> str:
        return f"AWS_Lambda_{self.lambda_runtime}"

    def prepare(self, staging: Path) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        self.client()

    def command(self, handler: Handler) -> list[str]:
        return [self.node, *self.node_args(), str(_node_client.BOOTSTRAP)]

    def node_args(self) -> list[str]:
        """Lambda's node flags (its bootstrap's): gc exposed, 80 KiB headers."""
        return ["--expose-gc", "--max-http-header-size", "81920"]

    def environment(self, handler: Handler, layers: list[Path], staging: Path) -> dict[str, str]:
        """Lambda's handler variables, ``NODE_PATH`` as Lambda's bootstrap sets it
        (``/opt/nodejs/nodeNN/node_modules``, ``/opt/nodejs/node_modules``, the code
        root) with the layers as ``/opt``, and the bootstrap's own variables."""
        path: list[str] = []
        major = self.major
        for layer in reversed(layers):  # a later layer lies over an earlier one in /opt
            base = Path(layer) / "nodejs"
            if not base.is_dir():
                raise HandlerError(f"layer {layer} has no nodejs/ folder (as /opt/nodejs needs)")
        for sub in (f"node{major}/node_modules", "node_modules"):
            for layer in reversed(layers):
                folder = Path(layer) / "nodejs" / sub
                if folder.is_dir():
                    path.append(str(folder.resolve()))
        path.append(str(handler.code_root))
        out = {
            **super().environment(handler, layers, staging),
            "NODE_PATH": os.pathsep.join(path),
            "LAMBDA_RUNTIME_DIR": str(_node_client.NODE_DIR),
            "_FDSCOPE_NODE_CLIENT": str(self.client().module),
        }
        preload = _preload()
        if preload:
            out["_FDSCOPE_NODE_PRELOAD"] = preload
        return out

    # -- logs ------------------------------------------------------------------------
    def init_start_line(self) -> str:
        major = self.major
        return (
            f"INIT_START Runtime Version: nodejs:{major}.v{self.version()}.fdscope\t"
            f"Runtime Version ARN: arn:aws:lambda:local::runtime:fdscope-nodejs{major}\n"
        )

    # -- the record ----------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """``runtime``, ``node`` (the version), ``interpreter`` (its path),
        ``lambda_runtime`` (``nodejs20.x``), ``runtime_client`` and ``network_guard``."""
        return {
            **super().record(),
            "node": self.version(),
            "interpreter": self.node,
            "lambda_runtime": self.lambda_runtime,
            "runtime_client": self.client().record(),
            "network_guard": False,
        }


def _preload() -> str | None:
    """The creation-site preload (fdscope.origins' Node part), when it is there; the
    bootstrap loads it only when tracking is on (FDSCOPE_TRACK=1)."""
    try:
        from fdscope.origins import node as origins_node
    except ImportError:
        return None
    path = getattr(origins_node, "PRELOAD", None)
    return str(path) if path and os.path.isfile(str(path)) else None


def select_runtime(
    handler: str,
    code_root: Path | None = None,
    *,
    runtime: str | None = None,
    python: str | None = None,
    node: str | None = None,
    client: str = "auto",
) -> Runtime:
    """The runtime for ``handler``: ``runtime`` (``python3.X``, ``nodejsNN.x``) when
    given, else the file's suffix, else what the code root holds for ``module.handler``
    (both a ``.py`` and a ``.js`` is refused: say which with ``runtime``)."""
    from fdscope.local.runtimes.python import PythonRuntime

    if runtime:
        if runtime.startswith("nodejs"):
            if python:
                raise DoctorError(f"--python does not apply to --runtime {runtime}")
            return NodeRuntime(node, runtime_id=runtime, client=client)
        if re.fullmatch(r"python3\.\d+", runtime):
            if node:
                raise DoctorError(f"--node does not apply to --runtime {runtime}")
            py = PythonRuntime(python)
            if py.version() != runtime[len("python") :]:
                raise DoctorError(
                    f"--runtime {runtime} but the interpreter {py.python} is Python "
                    f"{py.version()}: name a matching one with --python PATH"
                )
            return py
        raise DoctorError(
            f"unknown runtime {runtime!r}; choose python3.X or one of {', '.join(RUNTIME_IDS)}"
        )
    kind = _kind_of(handler, code_root)
    if kind == "node":
        if python:
            raise DoctorError("--python does not apply to a Node.js handler")
        return NodeRuntime(node, client=client)
    if node:
        raise DoctorError("--node does not apply to a Python handler")
    return PythonRuntime(python)


def _kind_of(handler: str, code_root: Path | None) -> str:
    """``node`` or ``python`` for a handler string (HandlerError when ambiguous)."""
    if ":" in handler:
        suffix = Path(handler.rpartition(":")[0]).suffix
        if suffix in (".ts", ".mts", ".cts"):
            raise HandlerError(f"bad handler {handler!r}: {_TS_HINT}")
        return "node" if suffix in NODE_SUFFIXES else "python"
    root = Path(code_root) if code_root is not None else Path.cwd()
    module, func = _split_module(handler)
    if not module or not root.is_dir():
        return "python"  # its own parser words the error
    js = node_files(root, module)
    # Python's module.function splits at the last dot (pkg.mod.handler)
    py_module = handler.rpartition(".")[0]
    py = _python_files(root, py_module) if "/" not in handler else []
    if js and py:
        raise HandlerError(
            f"handler {handler!r} matches both {py[0].name} and {js[0].name} in {root}: "
            "say which with --runtime (python3.X or nodejsNN.x)"
        )
    if js:
        return "node"
    if not py and any((root / f"{module}{s}").is_file() for s in (".ts", ".mts", ".cts")):
        raise HandlerError(f"handler {handler!r} names a TypeScript file: {_TS_HINT}")
    return "python"
