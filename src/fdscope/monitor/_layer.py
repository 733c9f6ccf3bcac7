"""Build a Lambda layer: the runtime packages under ``python/`` and the exec wrapper at the root."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from fdscope.errors import FdscopeError

# What runs inside a function: standard library only, nothing analytic.
RUNTIME_PACKAGES = ("handles", "origins", "emf", "trend", "monitor", "logs", "exhaustion")
RUNTIME_MODULES = ("__init__.py", "errors.py", "registry.py", "py.typed")
WRAPPER_NAME = "fdscope-wrapper"  # /opt/fdscope-wrapper once the layer is attached
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed times: the same sources give the same zip


class LayerError(FdscopeError):
    """The layer could not be built (sources missing, output not writable)."""


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | mode) << 16
    zf.writestr(info, data)


def layer_files() -> list[tuple[str, Path, int]]:
    """(name in the zip, source file, mode) for every file of the layer, sorted."""
    root = Path(__file__).resolve().parent.parent  # the fdscope package
    out: list[tuple[str, Path, int]] = []
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
            mode = 0o755 if src.name == WRAPPER_NAME else 0o644
            out.append((f"python/fdscope/{rel}", src, mode))
    wrapper = root / "monitor" / "data" / WRAPPER_NAME
    out.append((WRAPPER_NAME, wrapper, 0o755))
    return sorted(out)


def _pyc(src: Path, arcname: str) -> tuple[str, bytes]:
    """Byte code of one module for this interpreter, checked by nothing (an unchecked hash).

    /opt is read-only on Lambda, so without these every cold start compiles the
    runtime modules from source; the runtime uses them when its version matches
    the one that built the layer, and the sources otherwise.
    """
    import importlib.util
    import py_compile
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "x.pyc"
        py_compile.compile(
            str(src),
            cfile=str(target),
            dfile=arcname.removeprefix("python/"),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        data = target.read_bytes()
    return importlib.util.cache_from_source(arcname), data


def build_layer(out: Path, *, compile: bool = True) -> list[str]:
    """Write the layer zip to ``out``; return the names it holds. Raises LayerError.

    ``compile`` adds byte code for the interpreter running the build (build with
    the function's Python version to benefit).
    """
    import py_compile

    files = layer_files()
    out = Path(out)
    names: list[str] = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w") as zf:
            for arcname, src, mode in files:
                _add(zf, arcname, src.read_bytes(), mode)
                names.append(arcname)
                if compile and arcname.endswith(".py"):
                    pyc_name, data = _pyc(src, arcname)
                    _add(zf, pyc_name, data, 0o644)
                    names.append(pyc_name)
    except OSError as exc:
        raise LayerError(f"cannot write {out}: {exc}") from exc
    except py_compile.PyCompileError as exc:
        raise LayerError(f"cannot compile {exc.file}: {exc.msg}") from exc
    return names
