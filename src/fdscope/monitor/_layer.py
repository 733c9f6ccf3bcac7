"""Build a Lambda layer: the runtime packages under ``python/``, the Node.js monitor under
``nodejs/node_modules/fdscope-monitor/`` and the exec wrapper at the root.

Byte code for each Lambda Python version sits beside the sources as CPython looks
for it, ``__pycache__/<module>.cpython-3XY.pyc`` (one per version, side by side),
compiled by an interpreter of that version: ``/opt`` is read-only on Lambda, so a
version without its byte code compiles the runtime modules at every cold start.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from fdscope.errors import FdscopeError

# What runs inside a function: standard library only, nothing analytic.
RUNTIME_PACKAGES = ("handles", "origins", "emf", "trend", "monitor", "logs", "exhaustion")
RUNTIME_MODULES = (
    "__init__.py",
    "errors.py",
    "registry.py",
    "_extras.py",
    "_aws_errors.py",
    "py.typed",
)
WRAPPER_NAME = "fdscope-wrapper"  # /opt/fdscope-wrapper once the layer is attached
LAMBDA_PYTHONS = ("3.10", "3.11", "3.12", "3.13")  # Lambda's python3.X runtimes fdscope supports
LAMBDA_NODES = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")  # one Node part serves all
NODE_PART = "nodejs/node_modules/fdscope-monitor"  # on NODE_PATH at /opt/nodejs/node_modules
# the Node part: the monitor's own files, and origins' tracker (FDSCOPE_TRACK=1) beside them
_NODE_FILES = ("package.json", "handler.mjs", "monitor.js", "trend.js")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed times: the same sources give the same zip
# Run by the target interpreter: compile each (source, name in the zip) to its byte code
# (an unchecked hash: /opt never changes) and print [name of the .pyc, its path] pairs.
_COMPILE = r"""
import importlib.util, json, os, py_compile, sys
out, jobs, done = sys.argv[1], json.loads(sys.stdin.read()), []
for src, arcname in jobs:
    pyc = importlib.util.cache_from_source(arcname)
    target = os.path.join(out, pyc)
    py_compile.compile(src, cfile=target, dfile=arcname[len("python/"):], doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    done.append([pyc, target])
print(json.dumps({"tag": sys.implementation.cache_tag, "files": done}))
"""


class LayerError(FdscopeError):
    """The layer could not be built (sources missing, output not writable, no interpreter)."""


@dataclass
class LayerBuild:
    """What :func:`build_layer` wrote.

    ``runtimes``: the Lambda runtimes the zip serves (``python3.12``, ``nodejs20.x``, ...);
    ``compiled``: version -> the interpreter that compiled its byte code;
    ``source_only``: version -> why it has none; ``compile_ms``: what compiling the
    monitor's cold-start modules costs, measured with the building interpreter (the
    cold start a source-only version pays), or None when nothing is source only.
    """

    names: list[str] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)
    compiled: dict[str, str] = field(default_factory=dict)
    source_only: dict[str, str] = field(default_factory=dict)
    compile_ms: float | None = None


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | mode) << 16
    zf.writestr(info, data)


def layer_files(*, python: bool = True, node: bool = True) -> list[tuple[str, Path, int]]:
    """(name in the zip, source file, mode) for every file of the layer, sorted: the
    Python part (``python/fdscope``) and/or the Node part (:data:`NODE_PART`)."""
    root = Path(__file__).resolve().parent.parent  # the fdscope package
    out: list[tuple[str, Path, int]] = []
    if node:
        for name in _NODE_FILES:
            src = root / "monitor" / "node" / name
            if not src.is_file():
                raise LayerError(f"missing Node monitor file {src}")
            out.append((f"{NODE_PART}/{name}", src, 0o644))
        track = root / "origins" / "node" / "track.js"
        if not track.is_file():
            raise LayerError(f"missing origins tracker {track}")
        out.append((f"{NODE_PART}/origins/node/track.js", track, 0o644))
    if not python:
        wrapper = root / "monitor" / "data" / WRAPPER_NAME
        out.append((WRAPPER_NAME, wrapper, 0o755))
        return sorted(out)
    for name in RUNTIME_MODULES:
        src = root / name
        if not src.is_file():
            raise LayerError(f"missing package file {src}")
        out.append((f"python/fdscope/{name}", src, 0o644))
    for pkg in RUNTIME_PACKAGES:
        base = root / pkg
        if not base.is_dir():
            raise LayerError(f"missing runtime package {base}")
        for src in sorted(base.rglob("*")):
            if not src.is_file() or "__pycache__" in src.parts or src.suffix in (".pyc", ".pyo"):
                continue
            rel = src.relative_to(root).as_posix()
            if rel.startswith("monitor/node/"):
                continue  # the Node part, shipped under nodejs/
            mode = 0o755 if src.name == WRAPPER_NAME else 0o644
            out.append((f"python/fdscope/{rel}", src, mode))
    wrapper = root / "monitor" / "data" / WRAPPER_NAME
    out.append((WRAPPER_NAME, wrapper, 0o755))
    return sorted(out)


def parse_runtime(text: str) -> str:
    """``python3.12`` (or ``3.12``) -> ``3.12``; LayerError for anything else."""
    import re

    m = re.fullmatch(r"(?:python)?(3\.\d+)", text.strip())
    if not m:
        raise LayerError(
            f"bad runtime {text!r}: expected python3.X (e.g. python3.12) or "
            f"one of {', '.join(LAMBDA_NODES)}"
        )
    return m.group(1)


def split_runtimes(runtimes: list[str]) -> tuple[list[str], list[str]]:
    """``--runtime`` values -> (Python runtimes as given, Node runtimes); LayerError for
    anything else (a Node version Lambda has no runtime for, ``nodejs``, ``python``)."""
    pythons: list[str] = []
    nodes: list[str] = []
    for r in runtimes:
        text = r.strip()
        if text.startswith("node"):
            if text not in LAMBDA_NODES:
                raise LayerError(
                    f"bad runtime {r!r}: the Node part serves {', '.join(LAMBDA_NODES)}"
                )
            if text not in nodes:
                nodes.append(text)
        else:
            parse_runtime(text)
            pythons.append(text)
    return pythons, nodes


def _version_of(python: str) -> str | None:
    """``X.Y`` of a working interpreter, None when it does not run (a pyenv shim of a
    version that is not selected, a broken link)."""
    import subprocess

    try:
        res = subprocess.run(
            [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def python_candidates(version: str) -> list[str]:
    """Where an interpreter of ``version`` (``3.12``) may be, most likely first:
    fdscope's own, ``python3.12`` on PATH, pyenv's versions (``$PYENV_ROOT`` or
    ``~/.pyenv``, newest patch first), uv's managed Pythons, /usr/local/bin, /usr/bin."""
    import os
    import shutil
    import sys

    out: list[str] = []
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        out.append(sys.executable)
    name = f"python{version}"
    on_path = shutil.which(name)
    if on_path:
        out.append(on_path)

    def patch(p: Path) -> tuple[int, ...]:
        tail = p.parents[1].name.split("-")[-1] if p.parents[1].name.startswith("cpython") else ""
        text = tail or p.parents[1].name
        return tuple(int(x) if x.isdigit() else -1 for x in text.split("."))

    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    out += [str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/{name}"), key=patch, reverse=True)]
    uv = Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path.home() / ".local/share/uv/python")
    found = sorted(uv.glob(f"cpython-{version}.*/bin/{name}"), key=lambda p: p.parent.parent.name)
    out += [str(p) for p in reversed(found)]
    out += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    seen: list[str] = []
    for p in out:
        if p not in seen and Path(p).is_file():
            seen.append(p)
    return seen


def find_python(version: str) -> str | None:
    """A working interpreter of ``version`` (``3.12``) on this machine, or None."""
    for candidate in python_candidates(version):
        if _version_of(candidate) == version:
            return candidate
    return None


def _compile_with(python: str, jobs: list[tuple[str, str]], out: Path) -> tuple[str, list]:
    """Byte code of ``jobs`` ((source, name in the zip)) by ``python``: (cache tag, files)."""
    import json
    import os
    import subprocess

    # A fixed hash seed (the order of frozenset constants in the byte code follows
    # string hashes, and the same sources must give the same zip), nothing else of
    # the environment (not -I: it would ignore the seed too).
    out.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        res = subprocess.run(
            [python, "-s", "-S", "-c", _COMPILE, str(out)],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=out,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LayerError(f"cannot run {python} to compile the byte code: {exc}") from exc
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise LayerError(f"{python} could not compile the layer: {last}")
    got = json.loads(res.stdout.strip().splitlines()[-1])
    return got["tag"], got["files"]


def compile_cost_ms(repeat: int = 3) -> float:
    """Milliseconds the building interpreter takes to compile the modules the exec
    wrapper's entry loads at a cold start (best of ``repeat``): what a version
    without byte code pays at every cold start, compiling in memory (``/opt`` is
    read-only, so nothing is cached)."""
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import fdscope.monitor._monitor, fdscope.monitor._decorator, fdscope.monitor._handler_ref;"
        "print('\\n'.join(sorted(m.__file__ for m in list(sys.modules.values())"
        " if (getattr(m, '__file__', None) or '').startswith(sys.argv[1]))))"
    )
    res = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(root.parent)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    sources = [(p, Path(p).read_bytes()) for p in res.stdout.split()]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for path, data in sources:
            compile(data, path, "exec", dont_inherit=True)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def build_layer(
    out: Path,
    *,
    compile: bool = True,
    runtimes: list[str] | None = None,
    allow_source_only: bool = False,
) -> LayerBuild:
    """Write the layer zip to ``out``; return what it holds. Raises LayerError.

    ``runtimes`` (``python3.12``, ``nodejs20.x``, ...): the Lambda runtimes the zip
    serves. Each Python version gets byte code compiled by an interpreter of that
    version found here; a version without one is refused, or with
    ``allow_source_only`` shipped as source only. A ``nodejsNN.x`` adds the Node part
    (plain JavaScript, nothing to build: one part serves every Node version). Named
    runtimes only: ``--runtime nodejs20.x`` alone builds a Node-only zip.
    Default: every version of :data:`LAMBDA_PYTHONS` found here (the others are
    source only) and the Node part for :data:`LAMBDA_NODES`. ``compile=False``:
    source only for every Python version.
    """
    import tempfile

    if runtimes is not None and not runtimes:
        raise LayerError("no runtime given")
    explicit = runtimes is not None
    py_runtimes, nodes = split_runtimes(runtimes) if runtimes else ([], list(LAMBDA_NODES))
    want_python = not explicit or bool(py_runtimes)
    files = layer_files(python=want_python, node=bool(nodes))
    out = Path(out)
    result = LayerBuild()
    if not want_python:
        versions: list[str] = []
    else:
        versions = sorted(
            {parse_runtime(r) for r in py_runtimes} if explicit else set(LAMBDA_PYTHONS),
            key=lambda v: tuple(int(x) for x in v.split(".")),
        )
    result.runtimes = [f"python{v}" for v in versions] + nodes
    pythons: dict[str, str] = {}
    if compile:
        for v in versions:
            python = find_python(v)
            if python is not None:
                pythons[v] = python
            elif explicit and not allow_source_only:
                raise LayerError(
                    f"no Python {v} interpreter here to compile python{v}'s byte code "
                    f"(looked for {', '.join(python_candidates(v)) or f'python{v} on PATH, pyenv, uv'}"
                    "); install it, or pass --allow-source-only to ship its sources "
                    "(each cold start then compiles them)"
                )
            else:
                result.source_only[v] = f"no Python {v} interpreter here"
    else:
        result.source_only = {v: "--no-compile" for v in versions}
    jobs = [(str(src), arc) for arc, src, _ in files if arc.endswith(".py")]
    entries: list[tuple[str, bytes, int]] = [(arc, src.read_bytes(), m) for arc, src, m in files]
    with tempfile.TemporaryDirectory() as tmp:
        for v, python in pythons.items():
            target = Path(tmp) / v
            tag, compiled = _compile_with(python, jobs, target)
            if not tag.endswith(v.replace(".", "")):
                raise LayerError(f"{python} is {tag}, not Python {v}")
            entries += [(name, Path(path).read_bytes(), 0o644) for name, path in compiled]
            result.compiled[v] = python
        part = out.with_name(f".{out.name}.part")  # written whole or not at all
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(part, "w") as zf:
                for arcname, data, mode in sorted(entries):
                    _add(zf, arcname, data, mode)
                    result.names.append(arcname)
            part.replace(out)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise LayerError(f"cannot write {out}: {exc}") from exc
    if result.source_only:
        result.compile_ms = compile_cost_ms()
    return result
