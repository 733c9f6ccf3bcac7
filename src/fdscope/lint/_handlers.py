"""Finding handlers: SAM/CloudFormation templates, serverless.yml, CDK code, names, --handler."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")
SERVERLESS_NAMES = ("serverless.yml", "serverless.yaml")
_CDK_RE = re.compile(r"""\bhandler\s*[=:]\s*["']([A-Za-z_][\w./-]*\.[A-Za-z_]\w*)["']""")
_CDK_DIR_RE = re.compile(
    r"""(?:from_asset|fromAsset)\(\s*(?:path\s*=\s*)?"""
    r"""(?:path\.(?:join|resolve)\(\s*__dirname\s*,\s*)?["']([^"']+)["']"""
)


@dataclass(frozen=True, slots=True)
class HandlerRef:
    """A handler named somewhere: ``module`` path (``a/b/app``), ``function``, search ``base``."""

    module: str
    function: str
    base: Path | None  # the code directory (CodeUri) when known
    origin: str  # where it was named: "template.yaml", "serverless.yml", "cdk", "--handler", ...
    runtime: str = ""  # "python", "nodejs" when the template or serverless.yml says, else ""


def parse_handler(text: str, base: Path | None, origin: str) -> HandlerRef | None:
    """``app.handler`` / ``src/handlers/app.main`` / ``pkg.mod.fn`` -> HandlerRef (None if not one)."""
    text = text.strip()
    if "." not in text or "${" in text or text.startswith(("!", "arn:")):
        return None
    module, _, function = text.rpartition(".")
    if not function.isidentifier() or not module:
        return None
    module = module.replace("\\", "/")
    if "/" not in module:
        module = module.replace(".", "/")
    return HandlerRef(module.strip("/"), function, base, origin)


class _AnyTagLoader:  # built lazily so yaml is imported only when a template exists
    loader: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.loader is None:
            import yaml

            # libyaml's parser when PyYAML has it (about 10x faster on large templates)
            class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
                pass

            def any_tag(loader: Any, suffix: str, node: Any) -> Any:
                if isinstance(node, yaml.ScalarNode):
                    value = loader.construct_scalar(node)
                    return value if suffix in ("Sub",) else None
                if isinstance(node, yaml.SequenceNode):
                    return loader.construct_sequence(node)
                return loader.construct_mapping(node)

            Loader.add_multi_constructor("!", any_tag)
            cls.loader = Loader
        return cls.loader


def _load_yaml(path: Path) -> Any:
    """The document of a template or serverless.yml, parsed once per file version (handlers,
    layers and the JavaScript pass all read it)."""
    st = path.stat()
    return _load_yaml_once(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4096)
def _load_yaml_once(name: str, _mtime: int, _size: int) -> Any:
    path = Path(name)
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        import json

        try:
            return json.loads(text)
        except ValueError:
            return None
    try:
        import yaml
    except ModuleNotFoundError:  # pragma: no cover - yaml absent: scan lines
        return None
    try:
        return yaml.load(text, Loader=_AnyTagLoader.get())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None


def _regex_handlers(path: Path, origin: str) -> Iterator[HandlerRef]:
    text = path.read_text(encoding="utf-8", errors="replace")
    for m in re.finditer(r"""^\s*[Hh]andler:\s*["']?([\w./-]+)["']?\s*$""", text, re.M):
        ref = parse_handler(m.group(1), path.parent, origin)
        if ref is not None:
            yield ref


def from_template(path: Path) -> list[HandlerRef]:
    """Handlers of Python and Node.js functions in a SAM/CloudFormation template (tags like !Ref
    understood); each says its runtime family ("python", "nodejs")."""
    doc = _load_yaml(path)
    if not isinstance(doc, dict):
        return list(_regex_handlers(path, path.name))
    glob = (doc.get("Globals") or {}).get("Function") or {}
    glob = glob if isinstance(glob, dict) else {}
    out: list[HandlerRef] = []
    resources = doc.get("Resources") or {}
    if not isinstance(resources, dict):
        return out
    for res in resources.values():
        if not isinstance(res, dict):
            continue
        if res.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        props = res.get("Properties") or {}
        if not isinstance(props, dict):
            continue
        runtime = props.get("Runtime", glob.get("Runtime"))
        family = ""
        if isinstance(runtime, str):
            family = next((f for f in ("python", "nodejs") if runtime.startswith(f)), None) or ""
            if not family:
                continue
        handler = props.get("Handler", glob.get("Handler"))
        code_uri = props.get("CodeUri", glob.get("CodeUri"))
        base = path.parent
        if isinstance(code_uri, str) and "://" not in code_uri:
            base = (path.parent / code_uri).resolve()
        if isinstance(handler, str):
            ref = parse_handler(handler, base, path.name)
            if ref is not None:
                out.append(replace(ref, runtime=family))
    return out


def layer_dirs(path: Path) -> list[Path]:
    """Where a template's layers keep their Python code: ``AWS::Serverless::LayerVersion``
    ``ContentUri`` and ``AWS::Lambda::LayerVersion`` ``Content`` given as a local directory,
    and its ``python/`` (the directory Lambda puts on ``sys.path`` as ``/opt/python``)."""
    doc = _load_yaml(path)
    resources = doc.get("Resources") if isinstance(doc, dict) else None
    if not isinstance(resources, dict):
        return []
    out: list[Path] = []
    for res in resources.values():
        if not isinstance(res, dict):
            continue
        kind = res.get("Type")
        prop = {
            "AWS::Serverless::LayerVersion": "ContentUri",
            "AWS::Lambda::LayerVersion": "Content",
        }
        props = res.get("Properties")
        if kind not in prop or not isinstance(props, dict):
            continue
        uri = props.get(prop[kind])
        if isinstance(uri, str) and "://" not in uri:
            base = (path.parent / uri).resolve()
            out += [base, base / "python"]
    return out


def from_serverless(path: Path) -> list[HandlerRef]:
    """Handlers of ``functions:`` in a Serverless Framework file."""
    doc = _load_yaml(path)
    if not isinstance(doc, dict):
        return list(_regex_handlers(path, path.name))
    out: list[HandlerRef] = []
    functions = doc.get("functions") or {}
    provider = doc.get("provider")
    provider = provider if isinstance(provider, dict) else {}
    if isinstance(functions, dict):
        for fn in functions.values():
            if isinstance(fn, dict) and isinstance(fn.get("handler"), str):
                ref = parse_handler(fn["handler"], path.parent, path.name)
                runtime = fn.get("runtime") or provider.get("runtime")
                family = ""
                if isinstance(runtime, str):
                    family = next((f for f in ("python", "nodejs") if runtime.startswith(f)), "")
                if ref is not None:
                    out.append(replace(ref, runtime=family))
    return out


def from_cdk(path: Path, text: str) -> list[HandlerRef]:
    """``handler="app.handler"`` in CDK code (Python, TypeScript, JavaScript)."""
    if "handler" not in text:
        return []
    # an asset directory: from the file's directory (``path.join(__dirname, ...)``) or from the
    # CDK app's root (the directory of cdk.json, where ``cdk`` runs); one that is not there
    # leaves the handler found by its module path alone
    apps = [d for d in path.parent.parents if (d / "cdk.json").is_file()][:1]
    dirs = [
        b / d for d in _CDK_DIR_RE.findall(text) for b in (path.parent, *apps) if (b / d).is_dir()
    ]
    out: list[HandlerRef] = []
    for m in _CDK_RE.finditer(text):
        ref = parse_handler(m.group(1), None, f"cdk ({path.name})")
        if ref is None:
            continue
        if dirs:
            out.extend(HandlerRef(ref.module, ref.function, d.resolve(), ref.origin) for d in dirs)
        else:
            out.append(ref)
    return out


def layers(files: Iterable[Path]) -> list[Path]:
    """The layer code directories of every SAM/CloudFormation template among ``files``."""
    out: list[Path] = []
    for path in files:
        name = path.name
        if name in TEMPLATE_NAMES or (
            name.startswith("template") and path.suffix in (".yaml", ".yml")
        ):
            try:
                out.extend(layer_dirs(path))
            except OSError:
                continue
    return out


def discover(files: Iterable[Path]) -> list[HandlerRef]:
    """Every handler named in the deployment files among ``files``."""
    out: list[HandlerRef] = []
    for path in files:
        name = path.name
        try:
            if name in TEMPLATE_NAMES or (
                name.startswith("template") and path.suffix in (".yaml", ".yml")
            ):
                out.extend(from_template(path))
            elif name in SERVERLESS_NAMES:
                out.extend(from_serverless(path))
            elif path.suffix in (".ts", ".js") and "node_modules" not in path.parts:
                text = path.read_text(encoding="utf-8", errors="replace")
                if "aws-cdk" in text or "aws-lambda" in text:
                    out.extend(from_cdk(path, text))
        except OSError:
            continue
    return out
