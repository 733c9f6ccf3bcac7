"""Reporters: text lines, a JSON document, SARIF 2.1.0 for code scanning. Only these format."""

from __future__ import annotations

from typing import Any

from fdscope.lint._project import LintResult
from fdscope.lint._rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def to_text(result: LintResult, *, hints: bool = False) -> str:
    """``path:line:col: FDSnnn message`` per finding (with ``hint:`` lines when asked)."""
    out: list[str] = []
    for f in result.findings:
        out.append(f.text())
        if hints:
            out.append(f"    hint: {f.hint}")
    return "\n".join(out)


def to_json(result: LintResult) -> dict[str, Any]:
    """``{"schema": "fdscope.lint/1", "files", "handlers", "findings": [...]}``."""
    return {
        "schema": "fdscope.lint/1",
        "files": result.files,
        "handlers": list(result.handlers),
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.col + 1,
                "code": f.code,
                "rule": RULES[f.code].name,
                "message": f.message,
                "hint": f.hint,
                "chain": list(f.chain),
            }
            for f in result.findings
        ],
    }


def to_sarif(result: LintResult, *, version: str = "0") -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run; every rule described, every finding a result."""
    codes = sorted(RULES)
    index = {code: i for i, code in enumerate(codes)}
    rules = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].doc},
            "help": {"text": RULES[code].hint},
            "defaultConfiguration": {"level": "error" if code == "FDS001" else "warning"},
            "properties": {"family": RULES[code].family},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error" if f.code == "FDS001" else "warning",
            "message": {"text": f"{f.message}. Fix: {f.hint}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path.replace("\\", "/")},
                        "region": {"startLine": f.line, "startColumn": f.col + 1},
                    }
                }
            ],
        }
        for f in result.findings
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fdscope-lint",
                        "version": version,
                        "informationUri": "https://github.com/fdscope/fdscope",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
