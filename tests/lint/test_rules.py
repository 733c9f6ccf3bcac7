"""Every rule against the fixture corpus: each marked line flagged with its code, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fdscope.lint import RULES, Config, lint, lint_source

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "lint" / "corpus"
_MARK = re.compile(r"#\s*expect:\s*(?P<codes>(?:FDS\d{3}\s*)+)$")


def expected(path: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = _MARK.search(line)
        if m:
            out[i] = set(m.group("codes").split())
    return out


def found(path: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for f in lint([path], config=Config()).findings:
        out.setdefault(f.line, set()).add(f.code)
    return out


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.py")), ids=lambda p: p.stem)
def test_fixture_file_flags_exactly_the_marked_lines(path: Path) -> None:
    assert found(path) == expected(path)


def test_every_rule_has_a_positive_and_a_negative_case() -> None:
    marked: set[str] = set()
    for path in CORPUS.glob("*.py"):
        for codes in expected(path).values():
            marked |= codes
        # a negative section in every file: clean shapes of the same rule
        assert "# ---- clean" in path.read_text(), path.name
    assert marked == {
        code
        for code in RULES
        if code not in ("FDS001", "FDS002")  # file-level
        and "python" in RULES[code].languages  # FDS111/FDS112: tests/fixtures/lint/js
    }


def test_rule_table_is_complete() -> None:
    for code, rule in RULES.items():
        assert re.fullmatch(r"FDS\d{3}", code)
        assert rule.code == code and rule.message and rule.hint and rule.doc
        assert rule.family in ("leak", "per-invocation", "file")


# Shapes written differently from the fixtures (aliases, async, nesting), one comment each.
CASES = [
    # an aliased import still resolves
    ("import tempfile as t\ndef f():\n    fd, p = t.mkstemp()\n", {3: "FDS103"}),
    # from-import of the function itself
    ("from os import pipe\ndef f():\n    r, w = pipe()\n", {3: "FDS103"}),
    # a user function named open is not the builtin
    ("def open(p):\n    return p\ndef f():\n    x = open('a')\n", {}),
    # await of an async client factory kept in module state
    (
        "import asyncpg\nPOOL = []\nasync def f():\n    c = await asyncpg.connect()\n"
        "    POOL.append(c)\n",
        {4: "FDS101"},
    ),
    # async with on an aiohttp session: managed
    (
        "import aiohttp\nasync def f(u):\n    async with aiohttp.ClientSession() as s:\n"
        "        return await s.get(u)\n",
        {},
    ),
    # ExitStack.enter_context takes ownership
    (
        "import contextlib\ndef f(p):\n    with contextlib.ExitStack() as st:\n"
        "        fh = st.enter_context(open(p))\n        return fh.read()\n",
        {},
    ),
    # module-level code runs once: never a leak
    ("import os\nFD = os.open('x', 0)\nr, w = os.pipe()\n", {}),
    # a class attribute default runs once too
    ("import socket\nclass C:\n    s = socket.socket()\n", {}),
    # a nested function leaks as well as a top-level one
    (
        "import os\ndef outer():\n    def inner():\n        fd = os.open('x', 0)\n"
        "        os.write(fd, b'')\n    return inner\n",
        {4: "FDS103"},
    ),
    # noqa with the code silences exactly that finding
    ("import os\ndef f():\n    fd = os.open('x', 0)  # noqa: FDS103\n", {}),
    # noqa for another code does not
    ("import os\ndef f():\n    fd = os.open('x', 0)  # noqa: FDS101\n", {3: "FDS103"}),
    # a prefix, as in the configuration: FDS1 is the whole leak family
    ("import os\ndef f():\n    fd = os.open('x', 0)  # noqa: FDS1\n", {}),
    # a prefix of another family does not
    ("import os\ndef f():\n    fd = os.open('x', 0)  # noqa: FDS2\n", {3: "FDS103"}),
    # a bare noqa silences everything on the line
    ("import os\ndef f():\n    fd = os.open('x', 0)  # noqa\n", {}),
]


@pytest.mark.parametrize(("source", "want"), CASES)
def test_shapes(source: str, want: dict[int, str]) -> None:
    got = {f.line: f.code for f in lint_source(source)}
    assert got == want


def test_handler_signature_finds_handlers_with_other_names() -> None:
    src = "import boto3\ndef get_items(event, context):\n    return boto3.client('s3')\n"
    (finding,) = lint_source(src)
    assert finding.code == "FDS201" and "get_items" in finding.message


def test_per_invocation_rules_do_not_apply_outside_handlers() -> None:
    src = "import boto3\ndef helper(region):\n    return boto3.client('s3', region_name=region)\n"
    assert lint_source(src) == ()


def test_lazy_module_state_is_the_fix_not_a_finding() -> None:
    src = (
        "import boto3\n_c = None\ndef handler(event, context):\n    global _c\n"
        "    if _c is None:\n        _c = boto3.client('s3')\n    return _c.list_buckets()\n"
    )
    assert lint_source(src) == ()


def test_public_surface_is_sorted_and_importable() -> None:
    import fdscope.lint as pkg

    assert pkg.__all__ == sorted(pkg.__all__)
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
