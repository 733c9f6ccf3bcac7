"""Evidence of an exhausted descriptor table is matched only in fdscope.exhaustion.

The check reads every module under ``src/`` with ``ast`` and reports:

- ``errno.EMFILE`` / ``errno.ENFILE`` (use ``fdscope.exhaustion.NO_FD``);
- ``.errno`` compared with 23 or 24, and a tuple/list/set literal holding both;
- a string holding an evidence phrase (``Errno 24``, ``Too many open files``,
  ``filedescriptor out of range``, sqlite's, getaddrinfo's, botocore's words)
  anywhere but a docstring or a message being built (an f-string, a call's
  argument: text for people, not a matcher);
- the bare words ``EMFILE`` / ``ENFILE`` used as a matcher: in a comparison or
  ``in`` test, as a regex, or in a module-level tuple/list/set of strings.

User-facing text (help, docstrings, printed messages) may name EMFILE.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "fdscope"
TABLE = SRC / "exhaustion"

PHRASES = re.compile(
    r"Errno 2[34]|[Tt]oo many open files|filedescriptor out of range|"
    r"unable to open database file|Name or service not known|"
    r"Could not connect to the endpoint URL"
)
WORDS = re.compile(r"\b(?:EMFILE|ENFILE)\b")
REGEX_CALLS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "split"}

# Files outside this change's reach that still decide "no descriptor" by themselves, each with
# what it does; the test also fails when an entry goes stale (the file no longer needs it).
ALLOWED: dict[str, str] = {
    "handles/_linux.py": "its own /proc scan at EMFILE: errno.EMFILE/ENFILE (-> exhaustion.NO_FD)",
    "handles/_api.py": "the reserve descriptor at EMFILE: errno.EMFILE/ENFILE (-> exhaustion.NO_FD)",
    "origins/_judge.py": "an open that failed for want of a descriptor (-> exhaustion.NO_FD)",
    "monitor/_monitor.py": "its own listing at EMFILE: exc.errno in (24, 23) (-> exhaustion.NO_FD)",
    "cli/metrics.py": "_FAILURE_MARKS marks chart periods by log words (-> exhaustion.match_line)",
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _call_strings(node: ast.Call, message_parts: set[int], matchers: set[int]) -> None:
    """A regex call's string arguments are matchers; any other call's are text for people."""
    func = node.func
    fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    is_regex = (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "re"
        and fname in REGEX_CALLS
    )
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        ids = {id(c) for c in _strings(arg)}
        (matchers if is_regex else message_parts).update(ids)


def _compare(node: ast.Compare, name: str, matchers: set[int], out: list[str]) -> None:
    """Strings compared are matchers; ``.errno`` compared with 23 or 24 is evidence."""
    sides = [node.left, *node.comparators]
    for side in sides:
        matchers.update(id(c) for c in _strings(side))
    if any(isinstance(s, ast.Attribute) and s.attr == "errno" for s in sides):
        ints = [
            c.value
            for s in sides
            for c in ast.walk(s)
            if isinstance(c, ast.Constant) and c.value in (23, 24)
        ]
        if ints:
            out.append(f"{name}:{node.lineno}: .errno compared with {ints}")


def _errno_use(node: ast.AST, name: str, out: list[str]) -> None:
    """The errno numbers 23 and 24 held together, or ``errno.EMFILE``/``errno.ENFILE``."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        ints = {e.value for e in node.elts if isinstance(e, ast.Constant)}
        if {23, 24} <= ints:
            out.append(f"{name}:{node.lineno}: the errno numbers 23 and 24 held")
    elif (
        isinstance(node, ast.Attribute)
        and node.attr in ("EMFILE", "ENFILE")
        and isinstance(node.value, ast.Name)
        and node.value.id == "errno"
    ):
        out.append(f"{name}:{node.lineno}: errno.{node.attr}")


def findings(source: str, name: str = "<src>") -> list[str]:
    """What the check reports for one module's source."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    out: list[str] = []
    message_parts: set[int] = set()  # strings inside f-strings and call arguments: text for people
    matchers: set[int] = set()  # strings in comparisons, regex calls, module-level marker lists
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            message_parts.update(id(c) for c in _strings(node))
        elif isinstance(node, ast.Call):
            _call_strings(node, message_parts, matchers)
        elif isinstance(node, ast.Compare):
            _compare(node, name, matchers, out)
        else:
            _errno_use(node, name, out)
    for stmt in tree.body:  # module-level marker lists: NAME = ("...", "...")
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(
            stmt.value, (ast.Tuple, ast.List, ast.Set)
        ):
            matchers.update(id(c) for c in _strings(stmt.value))
    for c in _strings(tree):
        if id(c) in docs:
            continue
        text = c.value
        if PHRASES.search(text) and (id(c) in matchers or id(c) not in message_parts):
            out.append(f"{name}:{c.lineno}: evidence phrase {PHRASES.search(text).group()!r}")  # type: ignore[union-attr]
        elif WORDS.search(text) and id(c) in matchers:
            out.append(f"{name}:{c.lineno}: {WORDS.search(text).group()!r} used as a matcher")  # type: ignore[union-attr]
    return out


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if TABLE not in p.parents)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_evidence_outside_the_table(path: Path) -> None:
    rel = str(path.relative_to(SRC))
    found = findings(path.read_text(encoding="utf-8"), rel)
    if rel in ALLOWED:
        assert found, f"{rel} no longer matches evidence itself: drop it from ALLOWED"
        return
    assert found == [], "match it with fdscope.exhaustion instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source, caught",
    [
        ('if "Too many open files" in text: pass', True),  # an `in` test
        ("import errno\nif e.errno == errno.EMFILE: pass", True),  # errno attribute
        ("if e.errno in (24, 23): pass", True),  # the numbers
        ("_NO_FD = (24, 23)", True),  # the numbers, held for later
        ('MARKS = ("EMFILE", "ECONNRESET")', True),  # a marker list
        ('import re\nRX = re.compile(r"EMFILE|ENFILE")', True),  # a regex
        ('x = "[Errno 24] Too many open files"', True),  # a phrase held for later
        ('def f():\n    """Handles EMFILE and Too many open files."""', False),  # docstring
        ('print("EMFILE: the table is full")', False),  # a message
        ('log(f"fdscope EMFILE: {n} open, Too many open files")', False),  # an f-string message
        ('click.option("--x", help="stop at EMFILE")', False),  # help text
        ('if status == "emfile": pass', False),  # fdscope's own status name, lower case
    ],
)
def test_the_check_itself(source: str, caught: bool) -> None:
    assert bool(findings(source)) is caught
