"""What a call makes: the :class:`Spec` of a call that creates a resource (``open``, a socket, a
boto3 client, a streamed response, ...), and the look-alikes that create none (a ``Popen``
without pipes, a wrapper around a file object, a client over a shared pool, a non-daemon
thread)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from fdscope.lint._specs import ACCEPT, AWS_METHOD, HTTP_VERBS, SPECS, STREAM, Spec
from fdscope.lint._syntax import FUNCS, bindings, dotted, kw_true, parent, walk_scope

if TYPE_CHECKING:
    from fdscope.lint._facts import Module

_LISTENERS = frozenset({"socket.socket", "socket.create_server", "socket.fromfd"})
_POOLED = frozenset({"redis.Redis", "redis.StrictRedis", "redis.asyncio.Redis"})
# archives and compressed streams that open a path themselves, or wrap a file object
_WRAPPERS = frozenset(
    {
        "gzip.open",
        "gzip.GzipFile",
        "bz2.open",
        "bz2.BZ2File",
        "lzma.open",
        "lzma.LZMAFile",
        "tarfile.open",
        "zipfile.ZipFile",
    }
)
_IN_MEMORY = frozenset({"io.BytesIO", "io.StringIO", "BytesIO", "StringIO"})


def spec_of(m: Module, call: ast.Call, scope: ast.AST | None = None) -> tuple[Spec, str] | None:
    """The resource ``call`` creates and its label in messages, or None."""
    func = call.func
    qual = m.qualify(func)
    if qual is not None:
        spec = SPECS.get(qual)
        if spec is not None and not (qual == "open" and "open" in m.module_names):
            if spec.label == "subprocess.Popen" and not _has_pipe(call):
                return None
            if spec.label in _WRAPPERS and _wraps_file_object(m, call, scope):
                return None
            if spec.label in _POOLED and any(k.arg == "connection_pool" for k in call.keywords):
                return None  # a client over a shared pool opens no connection of its own
            if spec.label in ("threading.Thread", "threading.Timer"):
                if scope is not None and isinstance(scope, FUNCS):
                    m.ensure_parents(scope)
                if not _daemon(call):
                    return None
            return spec, qual
    if isinstance(func, ast.Attribute):
        if func.attr in ("client", "resource") and call.args and _service_literal(call.args[0]):
            return AWS_METHOD, f"{_receiver(func.value)}.{func.attr}()"
        if func.attr in HTTP_VERBS | {"stream"} and kw_true(call, "stream"):
            return STREAM, f"{dotted(func) or func.attr}(stream=True)"
        if func.attr == "stream" and qual and qual.split(".")[0] in ("httpx",):
            return STREAM, qual
        if func.attr == "accept" and not call.args and _socket_receiver(m, func.value, scope):
            return ACCEPT, f"{dotted(func) or 'accept'}()"
        if func.attr == "get_object" and call.args == [] and _aws_receiver(m, func.value):
            return STREAM, f"{dotted(func) or 'get_object'}()"
    return None


def _aws_receiver(m: Module, node: ast.AST) -> bool:
    """A boto3 client/resource: made in place, assigned from one in this module, or ``*s3*``."""
    if isinstance(node, ast.Call):
        func = node.func
        spec = SPECS.get(m.qualify(func) or "")
        if spec is not None:
            return spec.per_call == "FDS201"
        return (
            isinstance(func, ast.Attribute)
            and func.attr in ("client", "resource")
            and bool(node.args)
            and _service_literal(node.args[0])
        )
    name = dotted(node)
    if name is None:
        return False
    if "s3" in name.rsplit(".", 1)[-1].lower():
        return True
    return any(_aws_receiver(m, value) for value in m.values_of(name))


def _socket_receiver(m: Module, node: ast.AST, scope: ast.AST | None) -> bool:
    """A socket made in this module (``socket.create_server(...)``, ...): a local of the
    function, a module-level name, or an attribute (``self.sock``) assigned one."""
    name = dotted(node)
    if name is None:
        return False
    if isinstance(node, ast.Name):
        if scope is None:
            return False
        where = scope if node.id in m.local_names(scope) else m.tree
        values = [
            value
            for sub in walk_scope(where)
            for target, value in bindings(sub)
            if isinstance(target, ast.Name) and target.id == node.id
        ]
    else:
        values = list(m.values_of(name))
    return any(isinstance(v, ast.Call) and (m.qualify(v.func) or "") in _LISTENERS for v in values)


def _wraps_file_object(m: Module, call: ast.Call, scope: ast.AST | None) -> bool:
    """``GzipFile(fileobj=f)``, ``ZipFile(io.BytesIO(b))``: no descriptor of its own.

    Closing such a wrapper never closes the file object it was given, so the descriptor (if
    any: a BytesIO has none) belongs to whoever opened that object.
    """
    keyword = next((k.value for k in call.keywords if k.arg == "fileobj"), None)
    first = keyword if keyword is not None else (call.args[0] if call.args else None)
    if isinstance(first, ast.Call):
        # GzipFile(fileobj=open(p)): the wrapper is what the code keeps, so it is checked
        return (m.qualify(first.func) or "") in _IN_MEMORY
    if isinstance(first, ast.Name) and isinstance(scope, FUNCS):
        for node in walk_scope(scope):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == first.id for t in node.targets)
                and isinstance(node.value, ast.Call)
                and (m.qualify(node.value.func) or "") in _IN_MEMORY
            ):
                return True
    # fileobj=f: f's owner closes it; a positional name may be a path
    return keyword is not None


def _receiver(node: ast.AST) -> str:
    """``session`` / ``boto3.Session(...)``: how a method's receiver reads in a message."""
    name = dotted(node)
    if name is not None:
        return name
    if isinstance(node, ast.Call):
        inner = dotted(node.func)
        if inner is not None:
            return f"{inner}(...)"
    return "(...)"


def _has_pipe(call: ast.Call) -> bool:
    for k in call.keywords:
        if k.arg in ("stdin", "stdout", "stderr"):
            name = dotted(k.value) or ""
            if name.endswith("PIPE"):
                return True
    return False


def _daemon(call: ast.Call) -> bool:
    """A thread made a daemon: ``daemon=True``, ``t.daemon = True`` or ``t.setDaemon(...)``."""
    if kw_true(call, "daemon"):
        return True
    up = parent(call)
    if isinstance(up, ast.Assign) and isinstance(up.targets[0], ast.Name):
        name = up.targets[0].id
        scope: ast.AST | None = up
        while scope is not None and not isinstance(scope, FUNCS):
            scope = parent(scope)
        if scope is not None:
            return any(_makes_daemon(node, name) for node in walk_scope(scope))
    return False


def _makes_daemon(node: ast.AST, name: str) -> bool:
    return (
        isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Attribute)
        and node.targets[0].attr == "daemon"
        and dotted(node.targets[0].value) == name
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
    ) or (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setDaemon"
        and dotted(node.func.value) == name
    )


def _service_literal(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    v = node.value
    return 1 < len(v) <= 40 and v.replace("-", "").isalnum() and v.lower() == v
