"""The leak family (FDS1xx) for JavaScript: where each leak-shaped value goes in its function.

A value bound to a local is followed through the function (and the callbacks nested in it):
closed (``close``/``end``/``destroy``, ``fs.closeSync(fd)``), read (streams), waited for
(child processes: an ``exit``/``close`` listener, ``kill``), or handed on (returned, passed to
another call, stored, put in an object or array: ownership moves, as for Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fdscope.lint.js import _specs
from fdscope.lint.js._facts import Candidate, JsModule, RawFinding, call_text, pos
from fdscope.lint.js._parse import (
    FUNCTIONS,
    Node,
    dotted,
    inside,
    string_value,
    text,
    unwrap,
    up,
    walk,
)

_HANDED = frozenset(
    {
        "return_statement",
        "arrow_function",  # an expression body returns it
        "pair",
        "array",
        "shorthand_property_identifier",
        "object",
        "yield_expression",
        "spread_element",
        "variable_declarator",
        "assignment_expression",
        "jsx_expression",
        "throw_statement",
    }
)
_BRANCHES = frozenset(
    {"if_statement", "else_clause", "catch_clause", "ternary_expression", "switch_case"}
)


@dataclass
class _Use:
    closes: list[Node] = field(default_factory=list)
    handed: bool = False
    read: bool = False
    waited: bool = False


def check(m: JsModule) -> list[RawFinding]:
    """Every FDS1xx finding of a module (FDS101 stores, then each leak-shaped call)."""
    out = [f for container, f in m.stores if container not in m.evicted]
    for c in m.candidates:
        f = _judge(m, c)
        if f is not None:
            out.append(f)
    return [f for f in out if not (f.func and f.func in m.module_only)]


def _binding(call: Node) -> tuple[str | None, Node | None]:
    """(local name, its parent use) of a call's value: ``const x = call()`` -> ("x", None);
    not bound -> (None, the parent the value goes to)."""
    p = up(call)
    if p is None:
        return None, None
    if p.type == "variable_declarator":
        n = p.child_by_field_name("name")
        if n is not None and n.type == "identifier":
            return text(n), None
        return None, p  # destructured: handed on
    if p.type == "assignment_expression":
        left = p.child_by_field_name("left")
        if left is not None and left.type == "identifier":
            return text(left), None
        return None, p
    return None, p


def _declared_in(name: str, scope: Node) -> bool:
    """``name`` is a parameter or a declaration of ``scope`` (or a block inside it)."""
    for n in walk(scope):
        if n.type == "variable_declarator":
            nn = n.child_by_field_name("name")
            if nn is not None and nn.type == "identifier" and text(nn) == name:
                return True
    return False


def _uses(name: str, scope: Node, made: Node, kind: str) -> _Use:
    use = _Use()
    closers = _specs.CLOSERS.get(kind, frozenset())
    for n in walk(scope):
        if n.type not in ("identifier", "shorthand_property_identifier") or text(n) != name:
            continue
        if made.start_byte <= n.start_byte < made.end_byte:
            continue
        p = up(n)
        if p is None:
            continue
        if n.type == "shorthand_property_identifier":
            use.handed = True
            continue
        t = p.type
        if t == "member_expression" and p.child_by_field_name("object") == n:
            _member_use(p, kind, closers, use)
        elif t == "arguments":
            _argument_use(p, kind, use)
        elif t == "for_in_statement":
            use.read = True
        elif t in _HANDED and not _is_target(n, p):
            use.handed = True
    return use


def _is_target(n: Node, p: Node) -> bool:
    """``n`` is the name declared or assigned by ``p`` (``x = ...``), not a value it hands on."""
    if p.type == "variable_declarator":
        return p.child_by_field_name("name") == n
    if p.type == "assignment_expression":
        return p.child_by_field_name("left") == n
    return False


def _argument_use(args: Node, kind: str, use: _Use) -> None:
    """The value passed to a call: closed (``fs.closeSync(fd)``), used, waited for, handed on."""
    call = args.parent
    callee = dotted(call.child_by_field_name("function")) if call is not None else None
    last = (callee or "").rsplit(".", 1)[-1]
    if kind in ("fd", "fd-callback") and last in _specs.FD_CLOSERS:
        use.closes.append(call)
    elif kind in ("fd", "fd-callback") and last in _specs.FD_USERS:
        return
    elif kind == "timer" and last in ("clearInterval", "clearTimeout"):
        use.closes.append(call)
    elif kind == "child" and last == "once":
        use.waited = True  # events.once(child, "exit")
    else:
        use.handed = True


def _member_use(member: Node, kind: str, closers: frozenset[str], use: _Use) -> None:
    prop = text(member.child_by_field_name("property"))
    call = up(member)
    is_call = call is not None and call.type == "call_expression"
    if not is_call:
        if kind == "child" and prop in ("stdin", "stdout", "stderr"):
            return
        return
    if prop in closers:
        use.closes.append(call)
        if kind == "reader":
            use.read = True
        if kind == "child":
            use.waited = True
    elif prop in ("on", "once", "addListener", "addEventListener"):
        args = call.child_by_field_name("arguments")
        first = args.named_children[0] if args is not None and args.named_children else None
        event = string_value(first)
        if kind == "child" and event in ("exit", "close"):
            use.waited = True
        elif kind == "reader" and event in ("data", "readable"):
            use.read = True
        elif kind in ("writer", "socket", "handle") and event in ("finish", "close", "end"):
            pass
    elif kind == "reader" and prop in ("pipe", "read", "resume", "toArray", "forEach", "map"):
        use.read = True


def _verdict(use: _Use, made: Node, scope: Node) -> str | None:
    """None when closed on every path, else the message tail."""
    if not use.closes:
        return "is never closed"
    straight = []
    branches: dict[int, set[str]] = {}
    for c in use.closes:
        anc = list(inside(c, scope))
        if any(a.type == "finally_clause" for a in anc) or any(a.type in FUNCTIONS for a in anc):
            return None  # in finally, or in a callback (on "finish", on "end")
        branchy = [a for a in anc if a.type in _BRANCHES]
        if not branchy:
            straight.append(c)
            continue
        b = branchy[-1]  # the outermost branch
        if b.type == "else_clause" and b.parent is not None:
            branches.setdefault(b.parent.id, set()).add("else")
        elif b.type == "if_statement":
            branches.setdefault(b.id, set()).add("then")
    if not straight:
        if any(v == {"then", "else"} for v in branches.values()):
            return None
        return "is closed on one branch only; the other leaves it open"
    first = min(straight, key=lambda c: c.start_byte)
    for n in walk(scope):
        if n.type not in ("return_statement", "throw_statement"):
            continue
        if not (made.end_byte <= n.start_byte < first.start_byte):
            continue
        if any(a.type in FUNCTIONS for a in inside(n, scope)):
            continue
        kw = "return" if n.type == "return_statement" else "throw"
        return f"is closed, but the {kw} at line {n.start_point[0] + 1} skips the close"
    return None


def _judge(m: JsModule, c: Candidate) -> RawFinding | None:
    node, kind = c.node, c.kind
    if kind == "listen":
        return _listen(m, c)
    args = node.child_by_field_name("arguments")
    argv = [unwrap(a) for a in args.named_children] if args is not None else []
    if kind == "fd-callback":
        return _judge_fd_callback(c, argv)
    if kind == "child" and _child_waited_by_call(c, argv):
        return None
    name, parent = _binding(node)
    if name is None:
        return _judge_unbound(c, parent)
    local = _declared_in(name, c.scope)
    if kind == "timer" and not local:
        # kept in module state or an outer variable: cleared anywhere in the module?
        return None if name in m.cleared else _report(c, "")
    if not local:
        return None  # kept in an outer variable: not this call's to close
    return _judge_local(c, name)


def _report(c: Candidate, tail: str, code: str | None = None) -> RawFinding:
    """The finding at ``c``'s call: its kind's leak code unless ``code`` is given."""
    line, col = pos(c.node)
    disp = call_text(c.node)
    if code is None:
        return _finding(c.kind, line, col, disp, tail, c.top)
    return RawFinding(code, line, col, disp, tail, c.top)


def _judge_fd_callback(c: Candidate, argv: list[Node]) -> RawFinding | None:
    """``fs.open(path, (err, fd) => ...)``: the descriptor closed in the callback?"""
    cb = argv[-1] if argv else None
    if cb is None or cb.type not in FUNCTIONS:
        return None  # promisified or handed on
    ps = _params(cb)
    if len(ps) < 2 or not ps[1]:
        return None
    use = _uses(ps[1], cb, cb.child_by_field_name("parameters") or cb, "fd")
    # the callback's own early return (``if (err) return;``) has no descriptor to close
    if use.handed or _verdict(use, cb, cb) is None:
        return None
    return _report(c, "", "FDS103")


def _child_waited_by_call(c: Candidate, argv: list[Node]) -> bool:
    """A child process the call itself takes care of: an exec callback, or no pipes."""
    if c.name.endswith(("exec", "execFile")) and any(a.type in FUNCTIONS for a in argv):
        return True  # the callback runs at exit: waited for
    return _no_pipes(argv)


def _judge_unbound(c: Candidate, parent: Node | None) -> RawFinding | None:
    """A value not bound to a local: dropped (a statement), chained on, or handed on."""
    kind = c.kind
    if parent is None:
        return None
    if parent.type == "expression_statement":
        return _report(c, "is never closed")
    if parent.type != "member_expression":
        return None  # handed on
    prop = text(parent.child_by_field_name("property"))
    if prop in _specs.CLOSERS.get(kind, ()) or prop in ("on", "once", "pipe", "unref"):
        if kind == "reader" and prop != "on":
            return None
        if kind == "child" and prop in ("on", "once"):
            return None  # spawn(...).on("exit", ...)
        if kind in ("writer", "socket", "handle") and prop in ("on", "once"):
            return _report(c, "is never closed")
    return None


def _judge_local(c: Candidate, name: str) -> RawFinding | None:
    """A value bound to a local of its function: where it goes from there."""
    kind = c.kind
    use = _uses(name, c.scope, c.node, kind)
    if kind == "timer":
        return None if use.handed or use.closes else _report(c, "")
    if use.handed:
        return None
    if kind == "child":
        return None if use.waited else _report(c, "")
    if kind == "reader":
        return None if use.read else _report(c, "is never read or closed")
    tail = _verdict(use, c.node, c.scope)
    if tail is None:
        return None
    if kind in ("handle", "writer", "socket"):
        tail = f"kept in {name!r} {tail}"
    elif kind == "fd" and tail == "is never closed":
        tail = ""
    elif kind == "fd":
        return _report(c, f"kept in {name!r} {tail}", "FDS108")
    return _report(c, tail)


def _finding(kind: str, line: int, col: int, disp: str, tail: str, top: str) -> RawFinding:
    return RawFinding(_specs.LEAK_CODE[kind], line, col, disp, tail, top)


def _params(fn: Node) -> list[str]:
    from fdscope.lint.js._parse import params

    return params(fn)


def _no_pipes(argv: list[Node]) -> bool:
    """``{ stdio: "ignore" | "inherit" }``: no pipes in this process."""
    for a in argv:
        if a.type != "object":
            continue
        for p in a.named_children:
            if p.type == "pair" and text(p.child_by_field_name("key")) == "stdio":
                v = string_value(p.child_by_field_name("value"))
                if v in ("ignore", "inherit"):
                    return True
                value = p.child_by_field_name("value")
                if value is not None and value.type == "array":
                    vals = [string_value(x) for x in value.named_children]
                    if vals and all(x in ("ignore", "inherit") for x in vals):
                        return True
    return False


_SERVER_METHODS = frozenset({"close", "closeAllConnections"})


def _listen(m: JsModule, c: Candidate) -> RawFinding | None:
    """FDS112: ``srv.listen()`` on a server made in this call, never closed."""
    node = c.node
    fn = node.child_by_field_name("function")
    obj = unwrap(fn.child_by_field_name("object")) if fn is not None else None
    if obj is None:
        return None
    made: Node | None = None
    server_name: str | None = None
    if obj.type in ("call_expression", "new_expression"):
        made = obj
    elif obj.type == "identifier":
        server_name = text(obj)
        if not _declared_in(server_name, c.scope):
            return None  # a module's server listening once
        from fdscope.lint.js._facts import _bound_creation

        made = _bound_creation(server_name, c.scope)
    if made is None:
        return None
    is_new = made.type == "new_expression"
    callee = dotted(made.child_by_field_name("constructor" if is_new else "function"))
    if callee is None or m.canonical(callee) not in _specs.SERVERS:
        return None
    names = [n for n in (server_name, _binding(node)[0]) if n]
    for n in names:
        for u in walk(c.scope):
            if u.type != "identifier" or text(u) != n:
                continue
            p = up(u)
            if p is None:
                continue
            if p.type == "member_expression" and p.child_by_field_name("object") == u:
                if text(p.child_by_field_name("property")) in _SERVER_METHODS:
                    return None
            elif p.type in ("arguments", "return_statement", "pair", "array") and not (
                made.start_byte <= u.start_byte < made.end_byte
            ):
                return None  # handed on (a proxy, a test harness) or returned
    line, col = pos(node)
    shown = f"{server_name}.listen()" if server_name else call_text(node)
    return RawFinding("FDS112", line, col, shown, "", c.top)
