"""Which runtime interface client runs a Node.js handler, and ``fdscope setup node``.

The real client is AWS's ``aws-lambda-ric`` (3.x for Node 18/20, 4.x for Node
22+), an npm package with a native addon. It is taken, in this order, from

1. the function's own ``node_modules`` (the code root or a folder above it);
2. fdscope's cache, where ``fdscope setup node`` installs it with ``npm ci``
   from the lock file shipped in ``fdscope/local/node/client/ric-N/``:
   ``$FDSCOPE_CACHE_DIR/node/aws-lambda-ric-N`` (default
   ``$XDG_CACHE_HOME/fdscope`` or ``~/.cache/fdscope``), stamped with the lock
   file's hash so that a changed lock reinstalls;

and where neither has it, fdscope's pure-JavaScript stand-in
(``node/standin.mjs``) runs instead, following the same rules. Which one ran is
recorded in ``run.json`` (``runtime_client``).

Building the addon needs a C++ compiler, ``make``, ``cmake`` and Debian's
``autoconf automake libtool m4``; ``npm_config_nodedir`` is pointed at the
system's Node headers (``/usr/include/node``) when npm has no other source for
them. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fdscope.errors import DoctorError

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
STANDIN = NODE_DIR / "standin.mjs"
BOOTSTRAP = NODE_DIR / "bootstrap.mjs"
RIC = "aws-lambda-ric"
STANDIN_NAME = "fdscope-standin"
_STAMP = ".fdscope-stamp"
BUILD_TOOLS = ("autoconf", "automake", "libtoolize", "m4", "cmake", "make", "g++")


@dataclass(frozen=True)
class NodeClient:
    """A runtime interface client for Node.js: the module whose ``run()`` starts it."""

    name: str  # "aws-lambda-ric" or "fdscope-standin"
    version: str
    module: Path  # the ES module exporting run(appRoot, handler)
    source: str  # "function" (its node_modules), "cache" (fdscope setup node), "standin"

    def record(self) -> dict[str, str]:
        """What ``run.json`` records as ``runtime_client``."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "path": str(self.module),
        }


def ric_major(node_major: int) -> int:
    """The aws-lambda-ric major version for a Node major version (3: 18/20; 4: 22+)."""
    return 3 if node_major < 22 else 4


def cache_root() -> Path:
    """fdscope's cache folder (``$FDSCOPE_CACHE_DIR``, else XDG's, else ``~/.cache``)."""
    explicit = os.environ.get("FDSCOPE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fdscope"


def cache_dir(major: int) -> Path:
    """Where ``fdscope setup node`` installs aws-lambda-ric ``major``.x."""
    return cache_root() / "node" / f"{RIC}-{major}"


def lock_dir(major: int) -> Path:
    """The shipped ``package.json`` and ``package-lock.json`` for aws-lambda-ric ``major``."""
    return NODE_DIR / "client" / f"ric-{major}"


def _lock_hash(major: int) -> str:
    data = (lock_dir(major) / "package-lock.json").read_bytes()
    return hashlib.sha256(data).hexdigest()


def _ric_in(node_modules: Path) -> tuple[Path, str] | None:
    """(run() module, version) of a built aws-lambda-ric in ``node_modules``, or None."""
    pkg = node_modules / RIC
    module = pkg / "dist" / "index.mjs"
    if not module.is_file() or not (pkg / "dist" / "rapid-client.node").is_file():
        return None  # not there, or its addon was never built (npm --ignore-scripts)
    try:
        version = str(json.loads((pkg / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return module, version


def cached_client(major: int) -> NodeClient | None:
    """The cache's aws-lambda-ric ``major``.x when installed from the current lock."""
    base = cache_dir(major)
    try:
        stamp = (base / _STAMP).read_text().strip()
    except OSError:
        return None
    if stamp != _lock_hash(major):
        return None
    found = _ric_in(base / "node_modules")
    if found is None:
        return None
    return NodeClient(RIC, found[1], found[0], "cache")


def function_client(code_root: Path, major: int) -> NodeClient | None:
    """aws-lambda-ric ``major``.x in the function's own node_modules (or a folder above)."""
    for folder in (code_root.resolve(), *code_root.resolve().parents):
        found = _ric_in(folder / "node_modules")
        if found is not None:
            if found[1].split(".")[0] == str(major):
                return NodeClient(RIC, found[1], found[0], "function")
            return None  # Node resolution stops at the first one, so does this
    return None


def standin_client() -> NodeClient:
    """fdscope's pure-JavaScript stand-in (follows aws-lambda-ric 3.x's rules)."""
    return NodeClient(STANDIN_NAME, _standin_version(), STANDIN, "standin")


def _standin_version() -> str:
    import fdscope

    return str(getattr(fdscope, "__version__", "0"))


def find_client(code_root: Path, node_major: int, *, client: str = "auto") -> NodeClient:
    """The client to run: ``auto`` (function's, cache's, else the stand-in), ``ric``
    (the real one, or a :class:`DoctorError` saying how to get it) or ``standin``."""
    if client == "standin":
        return standin_client()
    major = ric_major(node_major)
    found = function_client(code_root, major) or cached_client(major)
    if found is not None:
        return found
    if client == "ric":
        raise DoctorError(
            f"{RIC} {major}.x (for Node {node_major}) is neither in the function's "
            f"node_modules nor in {cache_dir(major)}: run `fdscope setup node`"
        )
    return standin_client()


def node_version(node: str) -> str:
    """``node --version`` without the ``v`` ("20.20.2"); :class:`DoctorError` when it
    does not run."""
    try:
        out = subprocess.run(
            [node, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DoctorError(f"cannot run node ({node}): {exc}")
    text = out.stdout.strip()
    if out.returncode != 0 or not text.startswith("v"):
        raise DoctorError(f"{node} is not a working node: {(out.stderr or text).strip()[:200]}")
    return text[1:]


def find_node(node: str | None = None) -> str:
    """``node`` (a path, or a name looked up on PATH); :class:`DoctorError` when absent."""
    name = node or "node"
    if os.sep in name:
        if not (os.path.isfile(name) and os.access(name, os.X_OK)):
            raise DoctorError(f"node not found at {name}")
        return os.path.abspath(name)
    found = shutil.which(name)
    if found is None:
        raise DoctorError(
            "node not found on PATH: install Node.js 18 or newer, or name it with --node PATH"
        )
    return found


def _nodedir(node: str) -> str | None:
    """A folder holding the Node headers for node-gyp (``<prefix>/include/node``)."""
    prefix = Path(node).resolve().parent.parent
    for base in (prefix, Path("/usr"), Path("/usr/local")):
        if (base / "include" / "node" / "node_api.h").is_file():
            return str(base)
    return None


def install_client(
    node: str | None = None,
    *,
    npm: str | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda _m: None,
) -> tuple[NodeClient, float]:
    """``fdscope setup node``: install aws-lambda-ric for ``node``'s major version into
    the cache with ``npm ci`` (no-op when the stamp matches). Returns the client and
    the seconds spent (0.0 when already there)."""
    node_path = find_node(node)
    major = ric_major(int(node_version(node_path).split(".")[0]))
    if not force:
        found = cached_client(major)
        if found is not None:
            return found, 0.0
    npm_path = npm or shutil.which(
        "npm", path=f"{Path(node_path).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if not npm_path:
        raise DoctorError("npm not found (it comes with Node.js): needed to install aws-lambda-ric")
    missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    if missing:
        raise DoctorError(
            f"{RIC} builds a native addon and needs {', '.join(missing)}: on Debian/Ubuntu "
            "`apt-get install autoconf automake libtool m4 cmake make g++`"
        )
    target = cache_dir(major)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{RIC}-{major}-", dir=target.parent))
    env = dict(os.environ)
    env["PATH"] = f"{Path(node_path).parent}{os.pathsep}{env.get('PATH', '')}"
    if "npm_config_nodedir" not in env and "NPM_CONFIG_NODEDIR" not in env:
        nodedir = _nodedir(node_path)
        if nodedir:
            env["npm_config_nodedir"] = nodedir
    started = time.monotonic()
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(lock_dir(major) / name, work / name)
        log(f"installing {RIC} {major}.x into {target} (npm ci; builds a native addon, ~90 s)")
        done = subprocess.run(
            [npm_path, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise DoctorError(f"npm ci for {RIC} {major}.x failed:\n{tail}")
        if _ric_in(work / "node_modules") is None:
            raise DoctorError(f"npm ci ran but {RIC}'s native addon was not built (scripts off?)")
        (work / _STAMP).write_text(_lock_hash(major) + "\n")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    found = cached_client(major)
    if found is None:  # pragma: no cover - just written
        raise DoctorError(f"{RIC} installed into {target} but not found there")
    return found, time.monotonic() - started
