"""The rule decisions: which leak finding (FDS101-FDS110) a creation in a function gets, from
where its value goes, and which creations count per invocation (FDS2xx, reported by the
project pass from handlers)."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from fdscope.lint._facts import Creation, Module
from fdscope.lint._flow import (
    COMMIT_ONLY,
    Usage,
    early_exit,
    follow,
    keeper,
    kept_result,
    module_target,
    replaced_on_self,
    sequence_handled,
    wrapper,
)
from fdscope.lint._guards import guarded, handlers_guarded, lazy, memo
from fdscope.lint._resources import spec_of
from fdscope.lint._specs import MANAGER_METHODS, MANAGERS, NON_OWNING, STREAM, Spec
from fdscope.lint._syntax import FUNCS, TRANSPARENT, dotted, parent, walk_scope

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def check_call(m: Module, call: ast.Call, scope: ast.AST) -> None:
    """One call and its scope: FDS102 for ``addHandler``; a creation's finding and its
    per-invocation record."""
    func = call.func
    # FDS102: logger.addHandler in a function
    if isinstance(func, ast.Attribute) and func.attr == "addHandler":
        if isinstance(scope, FUNCS):
            m.ensure_parents(scope)
        if (
            isinstance(scope, FUNCS)
            and not handlers_guarded(m, call, scope)
            and not m.called_only_at_module_scope(scope.name)
        ):
            m.add_finding(call, "FDS102", f"{dotted(func) or 'addHandler'}()")
        return
    found = spec_of(m, call, scope)
    if found is None:
        return
    spec, label = found
    if isinstance(scope, FUNCS):
        m.ensure_parents(scope)
    if spec.per_call and isinstance(scope, (*FUNCS, ast.Lambda)):
        # a nested function or lambda runs when (and as often as) its top-level function does
        facts = m.by_node.get(id(scope)) or m.functions.get(m.top_of(scope) or "")
        if facts is not None and facts.node is not scope:
            m.ensure_parents(facts.node)
        if facts is not None and not lazy(m, call, scope) and not _loop_bound(call, spec):
            facts.creations.append(Creation(call.lineno, call.col_offset, spec.per_call, label))
    if not isinstance(scope, (FUNCS + (ast.Lambda,))):
        return  # module and class scope run once
    if spec.rule is None and not spec.per_call:
        return
    if isinstance(scope, ast.Lambda):
        return  # a lambda returns what it makes
    check_creation(m, call, spec, label, scope)


def _loop_bound(call: ast.Call, spec: Spec) -> bool:
    """``async with session.client("s3")`` (aioboto3): an async AWS client belongs to its event
    loop, and a Lambda handler running ``asyncio.run`` has a new loop per invocation, so it
    cannot be made once at module scope."""
    up = parent(call)
    return (
        spec.per_call == "FDS201"
        and isinstance(up, ast.withitem)
        and isinstance(parent(up), ast.AsyncWith)
    )


# ---- one creation, by what it is a part of ------------------------------------------------
def check_creation(m: Module, call: ast.Call, spec: Spec, label: str, scope: _Function) -> None:
    node: ast.AST = call
    up = parent(node)
    while isinstance(up, TRANSPARENT):
        node, up = up, parent(up)
    disp = f"{label}()" if not label.endswith(")") else label
    if isinstance(up, ast.withitem):  # with X(...) [as v]
        if label in COMMIT_ONLY:
            m.add_finding(call, "FDS104", disp)
    elif isinstance(up, ast.Call) and node is not up.func:
        _passed(m, call, spec, disp, up, scope)
    elif isinstance(up, (ast.Attribute, ast.Subscript)) and node is up.value:
        _used_once(m, call, spec, disp, up)
    elif isinstance(up, ast.Expr):
        _dropped(m, call, spec, label, disp)
    elif isinstance(up, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node is up.value:
        targets = up.targets if isinstance(up, ast.Assign) else [up.target]
        keepers = [
            k
            for target in targets
            if (k := check_target(m, call, target, spec, disp, scope, whole=True))
        ]
        if keepers:  # ``a.x = b.y = open(p)``: one finding naming every keeper
            m.add_finding(call, "FDS101", disp, " and ".join(dict.fromkeys(keepers)))
    # a keyword argument, return, yield: handed on; inside a literal, comprehension,
    # conditional expression...: ownership is unclear


def _passed(
    m: Module, call: ast.Call, spec: Spec, disp: str, up: ast.Call, scope: _Function
) -> None:
    """``f(open(p))``: a context manager helper, a keeper (FDS101), or a non-owning callee."""
    callee = m.qualify(up.func) or ""
    if callee in MANAGERS or callee.rsplit(".", 1)[-1] in MANAGER_METHODS:
        return
    kept_by = keeper(m, up, scope)
    if kept_by is None and wrapper(m, up):  # ``_kept.add(io.TextIOWrapper(open(p)))``
        kept_by = kept_result(m, up, scope)
    if kept_by is not None:
        m.add_finding(call, "FDS101", disp, kept_by)
        return
    if spec.rule == "FDS103" and callee in NON_OWNING:
        m.add_finding(call, "FDS103", disp)


def _used_once(m: Module, call: ast.Call, spec: Spec, disp: str, up: ast.AST) -> None:
    """``open(p).read()``, ``Popen(...)[...]``: used once, never bound to a name."""
    rule = spec.rule
    if rule == "FDS103":
        m.add_finding(call, "FDS103", disp)
    elif rule == "FDS106" and (
        not spec.started or (isinstance(up, ast.Attribute) and up.attr == "start")
    ):
        m.add_finding(call, "FDS106", disp)
    elif rule == "FDS105" and not (isinstance(up, ast.Attribute) and up.attr == "close"):
        m.add_finding(call, "FDS105", disp)
    elif spec.cycle and rule == "FDS108" and not _closer_attr(up, spec):
        m.add_finding(
            call,
            "FDS108",
            disp,
            "is used once and dropped unclosed; "
            "its reference cycle keeps the connection until the garbage collector runs",
        )
    elif rule == "FDS107":
        attr = up.attr if isinstance(up, ast.Attribute) else ""
        if attr not in ("wait", "communicate"):
            m.add_finding(call, "FDS107", disp)


def _dropped(m: Module, call: ast.Call, spec: Spec, label: str, disp: str) -> None:
    """A creation as a statement of its own: made and dropped at once."""
    rule = spec.rule
    if rule == "FDS103":
        m.add_finding(call, "FDS103", disp)
    elif rule in ("FDS105", "FDS107") or (rule == "FDS106" and not spec.started):
        m.add_finding(call, rule, disp)
    elif spec.cycle and rule == "FDS108":
        m.add_finding(
            call,
            "FDS108",
            disp,
            "is created and dropped unclosed; it waits for the garbage collector",
        )
    elif rule == "FDS109" and "stream" in label:
        m.add_finding(call, "FDS109", disp, "is never read or closed")


def _closer_attr(up: ast.AST, spec: Spec) -> bool:
    return isinstance(up, ast.Attribute) and up.attr in spec.closers


def check_target(
    m: Module,
    call: ast.Call,
    target: ast.AST,
    spec: Spec,
    disp: str,
    scope: _Function,
    *,
    whole: bool,
) -> str | None:
    """Check one store target; the module state that keeps the resource (FDS101), if any."""
    if isinstance(target, (ast.Tuple, ast.List)):
        kept: list[str] = []
        if spec.fds:
            for i, elt in enumerate(target.elts):
                if i in spec.fds:
                    k = check_target(m, call, elt, spec, disp, scope, whole=False)
                    if k:
                        kept.append(k)
        return " and ".join(kept) or None
    kept_in = module_target(m, target, scope)
    if kept_in is not None:
        if not guarded(call, scope, kept_in) and not memo(call, scope, spec, kept_in):
            return kept_in
        return None
    if (
        spec.rule == "FDS108"
        and isinstance(target, ast.Attribute)
        and replaced_on_self(m, target, spec, scope)
    ):
        m.add_finding(
            call,
            "FDS108",
            disp,
            f"kept in {dotted(target)} is never closed by its class; "
            "each call replaces the last one, still open",
        )
        return None
    if isinstance(target, ast.Name):
        if whole and spec.fds and spec.rule == "FDS103" and spec.fds != (0,):
            if not sequence_handled(m, target.id, scope):
                m.add_finding(call, spec.rule or "FDS103", disp)
            return None
        if target.id == "_":
            if spec.rule == "FDS103":
                m.add_finding(call, "FDS103", disp)
            return None
        use = follow(m, call, target.id, spec, scope)
        _verdict(m, call, target.id, spec, disp, scope, use)
    return None


# ---- a value kept in a local name ---------------------------------------------------------
def _verdict(
    m: Module, call: ast.Call, name: str, spec: Spec, disp: str, scope: _Function, use: Usage
) -> None:
    rule = spec.rule
    if use.kept is not None and not use.closed:
        m.add_finding(call, "FDS101", disp, use.kept)
        return
    if use.escaped or use.managed:
        return
    if use.commit_with and not use.closed:
        m.add_finding(call, "FDS104", name)
        return
    if rule in ("FDS103", "FDS105", "FDS107"):
        if not use.closed:
            m.add_finding(call, rule, disp)
    elif rule == "FDS106":
        if (use.started or not spec.started) and not use.closed:
            # a started worker is reported where it starts: that is when it holds resources
            where = use.start_node if spec.started and use.start_node else call
            m.add_finding(where, "FDS106", disp)
    elif rule == "FDS109":
        if spec is STREAM and "get_object" in disp:
            if not use.body_read:
                m.add_finding(
                    call,
                    "FDS109",
                    disp,
                    "response's Body (a StreamingBody) is never read or closed",
                )
        elif not (use.read or use.closed):
            m.add_finding(call, "FDS109", disp, "is never read or closed")
    elif rule == "FDS108":
        _closed_verdict(m, call, name, disp, scope, use)


def _closed_verdict(
    m: Module, call: ast.Call, name: str, disp: str, scope: _Function, use: Usage
) -> None:
    """FDS108: never closed, closed on one branch only, or a return/raise skips the close."""
    both = any((i, "orelse") in use.branches for i, b in use.branches if b == "body")
    if not use.closed:
        m.add_finding(call, "FDS108", disp, f"kept in {name!r} is never closed")
    elif not use.closed_finally and not use.closed_always and not both:
        m.add_finding(
            call,
            "FDS108",
            disp,
            f"kept in {name!r} is closed on one branch only; the other leaves it open",
        )
    elif not use.closed_finally and (exit_line := early_exit(call, use.first_close, scope)):
        m.add_finding(
            call,
            "FDS108",
            disp,
            f"kept in {name!r} is closed, but the return or raise at line {exit_line} "
            "skips the close()",
        )


# ---- FDS110 ---------------------------------------------------------------------------
def is_lifespan(fn: ast.AST, m: Module) -> bool:
    """An async context manager (or a function named ``*lifespan*``) around an app's life."""
    if not isinstance(fn, ast.AsyncFunctionDef):
        return False
    for deco in fn.decorator_list:
        q = m.qualify(deco) or ""
        if q.endswith("asynccontextmanager"):
            return True
    return "lifespan" in fn.name.lower()


def check_lifespan(m: Module, fn: _Function) -> None:
    """Resources made before the lifespan's ``yield`` and not closed after it (FDS110)."""
    yields = [n for n in walk_scope(fn) if isinstance(n, (ast.Yield, ast.YieldFrom))]
    if not yields:
        return
    first_yield = min(y.lineno for y in yields)
    closers = _closed_after_yield(fn, yields, first_yield)
    for n in walk_scope(fn):
        if not isinstance(n, ast.Call) or n.lineno > first_yield:
            continue
        found = spec_of(m, n)
        if found is None or found[0].rule is None and found[0].per_call is None:
            continue
        node: ast.AST = n
        up = parent(node)
        while isinstance(up, TRANSPARENT):
            node, up = up, parent(up)
        if isinstance(up, ast.withitem):
            continue
        target = None
        if isinstance(up, (ast.Assign, ast.AnnAssign)):
            t = up.targets[0] if isinstance(up, ast.Assign) else up.target
            target = ast.unparse(t)
        if target is None or target not in closers:
            label = found[1]
            m.add_finding(
                n, "FDS110", label if label.endswith(")") else f"{label}()", repr(fn.name)
            )


def _closed_after_yield(fn: _Function, yields: Sequence[ast.expr], first_yield: int) -> set[str]:
    """Source text of what the lifespan closes (or hands to a call) after it yields."""
    closers: set[str] = set()
    for n in walk_scope(fn):
        if isinstance(n, (ast.With, ast.AsyncWith)) and any(
            y.lineno >= n.lineno and y.lineno <= (n.end_lineno or n.lineno) for y in yields
        ):
            # ``async with client:`` around the yield closes it after the yield
            closers.update(ast.unparse(item.context_expr) for item in n.items)
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("close", "aclose", "shutdown", "dispose", "terminate")
            and n.lineno >= first_yield
        ):
            closers.add(ast.unparse(n.func.value))
        if isinstance(n, ast.Call) and n.lineno >= first_yield:
            for a in n.args:
                closers.add(ast.unparse(a))
    return closers
