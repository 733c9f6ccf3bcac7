"""The function's own settings, read from where it is deployed from.

:func:`function_settings` finds the deployment file the way ``fdscope lint`` finds
handlers (a SAM/CloudFormation ``template.yaml``/``.yml``/``.json``, a
``serverless.yml``, a synthesized CDK app's ``cdk.out/*.template.json``) in the
handler's folder or a folder above it (up to the repository root), or takes the one
given (``--template``); picks the function whose code and handler are the handler's
(or ``--function``, by logical id or name); and returns its memory, timeout,
environment, runtime, layers, region and name as :class:`FunctionSettings`, each with
where it came from (``Globals.Function``, ``Resources.<Id>``, a parameter's default,
``provider``...) and the references it could not resolve.

Resolved: ``Ref`` to a parameter (its ``Default``) and to ``AWS::Region``,
``AWS::AccountId``, ``AWS::Partition``, ``AWS::URLSuffix``; ``Fn::Sub`` and
``Fn::Join`` over those; ``Fn::FindInMap`` over ``Mappings``. Not resolved (a deployed
resource's name or attribute, an import, a condition): ``Ref`` to a resource,
``Fn::GetAtt``, ``Fn::ImportValue``, ``Fn::If``...; those settings are left out and
listed. serverless.yml: ``${self:...}``, ``${opt:x, 'default'}``, ``${env:X, 'd'}``
with their defaults; ``${ssm:...}`` and the like are listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError

TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")
SERVERLESS_NAMES = ("serverless.yml", "serverless.yaml")
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_PSEUDO = {
    "AWS::AccountId": "000000000000",  # the local Lambda's ARN
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
_MAX_UP = 6  # folders above the handler's searched for a deployment file


class Unresolved(DoctorError):
    """A reference the reader cannot resolve; ``what`` says which."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


@dataclass
class FunctionSettings:
    """One function's settings as its deployment file declares them (None: not set there)."""

    source: Path  # the deployment file
    kind: str  # "sam", "cloudformation", "serverless", "cdk"
    logical_id: str
    function_name: str | None = None
    memory_mb: int | None = None
    timeout_s: float | None = None
    runtime: str | None = None
    handler: str | None = None
    code_dir: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)  # as declared (ARNs, names)
    layer_dirs: list[Path] = field(default_factory=list)  # the local ones, as folders
    region: str | None = None
    origin: dict[str, str] = field(default_factory=dict)  # setting -> where it was read
    unresolved: list[str] = field(default_factory=list)  # "Environment.TABLE: Fn::GetAtt ..."

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "kind": self.kind,
            "function": self.logical_id,
            "function_name": self.function_name,
            "memory_mb": self.memory_mb,
            "timeout_s": self.timeout_s,
            "runtime": self.runtime,
            "environment": sorted(self.environment),
            "layers": self.layers,
            "region": self.region,
            "from": self.origin,
            "unresolved": self.unresolved,
        }


# -- loading -------------------------------------------------------------------


def _yaml_loader() -> Any:
    """A SafeLoader that keeps CloudFormation's short tags as their long forms."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: Any, suffix: str, node: Any) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    Loader.add_multi_constructor("!", tag)
    return Loader


def load(path: Path) -> dict[str, Any]:
    """A template or serverless.yml as a dict; DoctorError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DoctorError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
        else:
            try:
                import yaml
            except ModuleNotFoundError:
                raise DoctorError(f"reading {path} needs PyYAML: pip install pyyaml") from None
            doc = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except ValueError as exc:
        raise DoctorError(f"{path} is not valid JSON: {exc}") from None
    except Exception as exc:  # yaml.YAMLError (yaml imported lazily)
        raise DoctorError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise DoctorError(f"{path}: not a template (expected a mapping)")
    return doc


# -- finding -------------------------------------------------------------------


def find_templates(start: Path) -> list[Path]:
    """Deployment files in ``start`` and the folders above it, nearest first, up to the
    repository root (a folder holding ``.git``) or :data:`_MAX_UP` levels."""
    out: list[Path] = []
    folder = start.resolve()
    for _ in range(_MAX_UP + 1):
        for name in (*TEMPLATE_NAMES, *SERVERLESS_NAMES):
            if (folder / name).is_file():
                out.append(folder / name)
        cdk = folder / "cdk.out"
        if cdk.is_dir():
            out.extend(sorted(cdk.glob("*.template.json")))
        if (folder / ".git").exists() or folder.parent == folder:
            break
        folder = folder.parent
    return out


# -- resolving CloudFormation ------------------------------------------------------


class _Resolver:
    def __init__(self, doc: dict[str, Any], region: str | None) -> None:
        params = doc.get("Parameters") or {}
        self.params = params if isinstance(params, dict) else {}
        self.mappings = doc.get("Mappings") or {}
        self.region = region

    def ref(self, name: str) -> str:
        if name == "AWS::Region":
            if self.region:
                return self.region
            raise Unresolved("Ref AWS::Region (no --region)")
        if name in _PSEUDO:
            return _PSEUDO[name]
        param = self.params.get(name)
        if isinstance(param, dict):
            if "Default" in param:
                return str(param["Default"])
            raise Unresolved(f"Ref {name} (a parameter without a Default)")
        if name.startswith("AWS::"):
            raise Unresolved(f"Ref {name}")
        raise Unresolved(f"Ref {name} (a resource: named at deploy time)")

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = self.value(arg[1])
                if not isinstance(parts, list):
                    raise Unresolved("Fn::Join over a value it cannot list")
                return str(arg[0]).join(str(self.value(p)) for p in parts)
            if key == "Fn::FindInMap" and isinstance(arg, list) and len(arg) == 3:
                keys = [str(self.value(a)) for a in arg]
                try:
                    return self.mappings[keys[0]][keys[1]][keys[2]]
                except (KeyError, TypeError):
                    raise Unresolved(f"Fn::FindInMap {keys}") from None
            if key.startswith("Fn::") or key == "Condition":
                shown = json.dumps(arg, default=str)
                raise Unresolved(f"{key} {shown[:60]}")
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, dict):
            return {k: self.value(v) for k, v in node.items()}
        return node

    def sub(self, arg: Any) -> str:
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, local = str(arg[0]), {k: self.value(v) for k, v in arg[1].items()}
        else:
            text, local = str(arg), {}

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name:
                raise Unresolved(f"Fn::Sub ${{{name}}} (an attribute: known at deploy time)")
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", one, text)


def _cfn_functions(path: Path, doc: dict[str, Any], region: str | None) -> list[FunctionSettings]:
    resources = doc.get("Resources") or {}
    if not isinstance(resources, dict):
        return []
    sam = "AWS::Serverless" in json.dumps(doc.get("Transform", ""), default=str)
    kind = "cdk" if path.parent.name == "cdk.out" else "sam" if sam else "cloudformation"
    glob = ((doc.get("Globals") or {}).get("Function") or {}) if sam else {}
    glob = glob if isinstance(glob, dict) else {}
    layer_paths = _local_layers(path, resources)
    resolver = _Resolver(doc, region)
    out = []
    for logical_id, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") not in _FUNCTION_TYPES:
            continue
        props = res.get("Properties") or {}
        props = props if isinstance(props, dict) else {}
        fs = FunctionSettings(path, kind, str(logical_id))
        here = f"{path.name} Resources.{logical_id}"

        def get(key: str, *, fs: FunctionSettings = fs, props: Any = props, here: str = here):
            for where, holder in ((here, props), (f"{path.name} Globals.Function", glob)):
                if key in holder:
                    try:
                        return resolver.value(holder[key]), where
                    except Unresolved as exc:
                        fs.unresolved.append(f"{key}: {exc.what}")
                        return None, None
            return None, None

        for key, attr, conv in (
            ("MemorySize", "memory_mb", int),
            ("Timeout", "timeout_s", float),
            ("Runtime", "runtime", str),
            ("Handler", "handler", str),
            ("FunctionName", "function_name", str),
        ):
            value, where = get(key)
            if value is not None and where is not None:
                try:
                    setattr(fs, attr, conv(value))
                except (TypeError, ValueError):
                    fs.unresolved.append(f"{key}: {value!r} is not a {conv.__name__}")
                    continue
                fs.origin[attr] = where
        _code_dir(fs, path, props, glob, res)
        _environment(fs, props, glob, resolver, path, here)
        _layers(fs, props, glob, resolver, layer_paths, here, path)
        if fs.function_name is None:
            fs.function_name = str(logical_id)
            fs.origin["function_name"] = f"{here} (its logical id: FunctionName is not set)"
        out.append(fs)
    return out


def _layers(
    fs: FunctionSettings,
    props: Any,
    glob: Any,
    resolver: _Resolver,
    layer_paths: dict[str, Path],
    here: str,
    path: Path,
) -> None:
    layers = props.get("Layers", glob.get("Layers")) or []
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in layer_paths:
            fs.layers.append(str(layer["Ref"]))
            fs.layer_dirs.append(layer_paths[layer["Ref"]])
            continue
        try:
            fs.layers.append(str(resolver.value(layer)))
        except Unresolved as exc:
            fs.unresolved.append(f"Layers: {exc.what}")
    if fs.layer_dirs:
        fs.origin["layers"] = here if "Layers" in props else f"{path.name} Globals.Function"


def _code_dir(fs: FunctionSettings, path: Path, props: Any, glob: Any, res: Any) -> None:
    uri = props.get("CodeUri", glob.get("CodeUri"))
    asset = (res.get("Metadata") or {}).get("aws:asset:path")
    if isinstance(uri, str) and "://" not in uri:
        fs.code_dir = (path.parent / uri).resolve()
    elif isinstance(asset, str):  # a synthesized CDK app: its copy of the code
        fs.code_dir = (path.parent / asset).resolve()
    elif isinstance(props.get("Code"), str) and "://" not in props["Code"]:
        fs.code_dir = (path.parent / props["Code"]).resolve()
    elif uri is None and not props.get("Code"):
        fs.code_dir = path.parent.resolve()  # SAM's default: the template's folder


def _environment(
    fs: FunctionSettings, props: Any, glob: Any, resolver: _Resolver, path: Path, here: str
) -> None:
    for where, holder in ((f"{path.name} Globals.Function", glob), (here, props)):
        variables = ((holder.get("Environment") or {}) if isinstance(holder, dict) else {}).get(
            "Variables"
        ) or {}
        if not isinstance(variables, dict):
            continue
        for key, raw in variables.items():
            try:
                fs.environment[str(key)] = str(resolver.value(raw))
                fs.origin[f"environment.{key}"] = where
            except Unresolved as exc:
                fs.environment.pop(str(key), None)
                fs.unresolved.append(f"Environment {key}: {exc.what}")


def _local_layers(path: Path, resources: dict[str, Any]) -> dict[str, Path]:
    """Layer resources whose content is a local folder: logical id -> folder."""
    out: dict[str, Path] = {}
    for logical_id, res in resources.items():
        if not isinstance(res, dict):
            continue
        props = res.get("Properties") or {}
        key = {
            "AWS::Serverless::LayerVersion": "ContentUri",
            "AWS::Lambda::LayerVersion": "Content",
        }
        uri = (
            props.get(key.get(str(res.get("Type")), ""), None) if isinstance(props, dict) else None
        )
        if isinstance(uri, str) and "://" not in uri:
            out[str(logical_id)] = (path.parent / uri).resolve()
    return out


# -- serverless.yml ------------------------------------------------------------------


def _sls_value(value: Any, doc: dict[str, Any], fs: FunctionSettings, what: str) -> Any:
    if not isinstance(value, str) or "${" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        ref, _, default = expr.partition(",")
        default = default.strip().strip("'\"")
        source, _, name = ref.strip().partition(":")
        if source == "self":
            node: Any = doc
            for part in name.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                return str(_sls_value(node, doc, fs, what))
        if default or (source in ("opt", "env", "sls") and "," in expr):
            return default
        if source == "opt" and name == "stage":
            return "dev"
        if source == "opt" and name == "region":
            return "us-east-1"
        raise Unresolved(f"${{{expr}}}")

    return re.sub(r"\$\{([^{}]+)\}", one, value)


def _sls_functions(path: Path, doc: dict[str, Any]) -> list[FunctionSettings]:
    provider = doc.get("provider") or {}
    provider = provider if isinstance(provider, dict) else {}
    functions = doc.get("functions") or {}
    out = []
    for key, fn in functions.items() if isinstance(functions, dict) else ():
        if not isinstance(fn, dict):
            continue
        fs = FunctionSettings(path, "serverless", str(key), code_dir=path.parent.resolve())

        def val(raw: Any, what: str, fs: FunctionSettings = fs) -> Any:
            try:
                return _sls_value(raw, doc, fs, what)
            except Unresolved as exc:
                fs.unresolved.append(f"{what}: {exc.what}")
                return None

        for sls_key, attr, conv in (
            ("memorySize", "memory_mb", int),
            ("timeout", "timeout_s", float),
            ("runtime", "runtime", str),
        ):
            for where, holder in ((f"functions.{key}", fn), ("provider", provider)):
                if sls_key in holder:
                    value = val(holder[sls_key], sls_key)
                    if value is not None:
                        setattr(fs, attr, conv(value))
                        fs.origin[attr] = f"{path.name} {where}"
                    break
        fs.handler = val(fn.get("handler"), "handler")
        if fs.handler:
            fs.origin["handler"] = f"{path.name} functions.{key}"
        region = val(provider.get("region", "${opt:region}"), "region")
        fs.region = region
        fs.origin["region"] = f"{path.name} provider" if "region" in provider else "default"
        stage = val(provider.get("stage", "${opt:stage}"), "stage") or "dev"
        name = val(fn.get("name"), "name") if "name" in fn else None
        service = val(doc.get("service"), "service")
        if isinstance(service, dict):
            service = service.get("name")
        fs.function_name = name or f"{service}-{stage}-{key}"
        fs.origin["function_name"] = f"{path.name} " + (
            f"functions.{key}.name" if name else "service-stage-function"
        )
        for where, holder in (("provider", provider), (f"functions.{key}", fn)):
            env = holder.get("environment") or {}
            for var, raw in env.items() if isinstance(env, dict) else ():
                value = val(raw, f"environment {var}")
                if value is None:
                    fs.environment.pop(str(var), None)
                else:
                    fs.environment[str(var)] = str(value)
                    fs.origin[f"environment.{var}"] = f"{path.name} {where}"
        out.append(fs)
    return out


# -- choosing ------------------------------------------------------------------------


def _module_of(handler: str) -> tuple[str, str]:
    module, _, function = handler.rpartition(".")
    if "/" not in module:
        module = module.replace(".", "/")
    return module, function


def functions_in(path: Path, *, region: str | None = None) -> list[FunctionSettings]:
    """Every function a deployment file declares, with its settings."""
    doc = load(path)
    if path.name in SERVERLESS_NAMES or "functions" in doc and "Resources" not in doc:
        return _sls_functions(path, doc)
    return _cfn_functions(path, doc, region)


def _matches(fs: FunctionSettings, code_root: Path, handler: str) -> bool:
    if not fs.handler or fs.code_dir is None:
        return False
    mine, fn = _module_of(handler)
    theirs, their_fn = _module_of(fs.handler)
    if fn != their_fn:
        return False
    if (fs.code_dir / theirs).resolve() == (code_root / mine).resolve():
        return True
    if fs.kind == "cdk":  # the asset is a copy: the same handler and the same file content
        for ext in (".py", ".js", ".mjs", ".cjs"):
            a, b = fs.code_dir / (theirs + ext), code_root / (mine + ext)
            if a.is_file() and b.is_file():
                return a.read_bytes() == b.read_bytes()
    return False


def function_settings(
    code_root: Path,
    handler: str,
    *,
    template: Path | None = None,
    function: str | None = None,
    region: str | None = None,
) -> tuple[FunctionSettings | None, list[str]]:
    """The settings of the function that runs ``handler`` (Lambda's Handler string) from
    ``code_root``, and notes (what was searched, why nothing was taken).

    ``template``: the deployment file (else searched from ``code_root`` up);
    ``function``: a logical id or function name, when the file declares several with
    this handler or none matches it. Raises DoctorError when ``--function`` names no
    function or the choice is ambiguous."""
    paths = [template] if template is not None else find_templates(code_root)
    notes: list[str] = []
    if not paths:
        return None, notes
    seen: list[FunctionSettings] = []
    for path in paths:
        try:
            found = functions_in(path, region=region)
        except DoctorError as exc:
            if template is not None:
                raise
            notes.append(f"{exc} (skipped)")
            continue
        seen.extend(found)
        if function is not None:
            picked = [f for f in found if function in (f.logical_id, f.function_name)]
        else:
            picked = [f for f in found if _matches(f, code_root, handler)]
        if len(picked) == 1:
            return picked[0], notes
        if len(picked) > 1:
            names = ", ".join(f.logical_id for f in picked)
            raise DoctorError(f"{path} declares several functions for {handler} ({names}): "
                              "pick one with --function")  # fmt: skip
    names = ", ".join(sorted({f.logical_id for f in seen})) or "none"
    where = ", ".join(str(p) for p in paths)
    if function is not None:
        raise DoctorError(
            f"--function {function}: no such function in {where} (functions: {names})"
        )
    notes.append(f"no function with handler {handler} in {where} (functions: {names}); "
                 "settings from the options (--function picks one)")  # fmt: skip
    return None, notes
