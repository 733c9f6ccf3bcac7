"""The bundled examples (examples/corpus.json): leaky ones flagged at their lint lines, fixed ones clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.lint import Config, lint
from fdscope.lint.js import available as js_available

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "examples" / "corpus.json"


def _entries() -> list[dict]:
    if not MANIFEST.exists():
        return []
    data = json.loads(MANIFEST.read_text())
    entries = data["examples"] if isinstance(data, dict) else data
    return [
        e
        if e.get("runtime", "python") == "python" or JS_LINT
        else pytest.param(e, marks=pytest.mark.skip(reason=JS_MISSING))
        for e in entries
        if e.get("lint_lines") is not None
    ]


# the Node entries (runtime nodejs) need the lint-js extra (tree-sitter's grammars)
JS_LINT = js_available()
JS_MISSING = "fdscope[lint-js] is not installed: the Node examples are not linted"


def _name(e: object) -> str:
    return str(e["name"]) if isinstance(e, dict) else ""


@pytest.mark.parametrize("entry", _entries(), ids=_name)
def test_example_flagged_at_its_lines(entry: dict) -> None:
    directory = ROOT / entry["dir"]
    result = lint([directory], config=Config())
    leak_file = directory / (entry.get("leak_file") or "app.py")
    lines = sorted({f.line for f in result.findings if Path(f.path).name == leak_file.name})
    if entry["lint_lines"]:
        assert set(entry["lint_lines"]) <= set(lines), (entry["name"], lines)
    else:
        assert result.findings == (), [f.text() for f in result.findings]


def test_every_fixed_version_is_clean() -> None:
    data = json.loads(MANIFEST.read_text())
    entries = data["examples"] if isinstance(data, dict) else data
    # the Node entries' fixed versions need the lint-js extra
    fixed = [
        e["fixed"]
        for e in entries
        if e.get("fixed") and (e.get("runtime", "python") == "python" or JS_LINT)
    ]
    assert fixed
    by_name = {e["name"]: e for e in entries}
    for name in fixed:
        result = lint([ROOT / by_name[name]["dir"]], config=Config())
        assert result.findings == (), [f.text() for f in result.findings]
