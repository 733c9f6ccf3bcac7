"""The ``pattern`` command: clustering log lines into templates (no DuckDB, no oracle).

Lines are split into tokens; tokens that look variable (numbers, hex, UUIDs,
IP addresses, timestamps) become ``<*>`` at once. Lines with the same masked
token sequence form a group; groups of the same length whose tokens differ in
at most a third of the positions merge, the differing tokens becoming ``<*>``.
Groups are visited in sorted order, so the result depends only on the multiset
of lines, not on their order. Properties kept: every line is in exactly one
cluster, counts add up to the input, and every line matches its template.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

WILDCARD = "<*>"
_TOKEN = re.compile(r"\s+|[^\s]+")
_VARIABLE = re.compile(
    r"""^(
        [-+]?\d+([.,:]\d+)*[a-zA-Z%]{0,3}          # numbers, 12ms, 3.5s, 10:20
      | 0x[0-9a-fA-F]+
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}
      | [0-9a-fA-F]{12,}
      | \d{1,3}(\.\d{1,3}){3}(:\d+)?
      | \d{4}-\d\d-\d\dT?[\d:.]*Z?
    )[,;.)\]]*$""",
    re.X,
)
_SEVERITY = ("CRITICAL", "FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE")


@dataclass(frozen=True)
class Cluster:
    pattern: str
    count: int
    ratio: float
    severity: str
    tokens: tuple[str, ...]
    samples: tuple[str, ...]


def _tokens(line: str) -> list[str]:
    return _TOKEN.findall(line)


def _mask(tokens: list[str]) -> tuple[str, ...]:
    return tuple(WILDCARD if (not t.isspace() and _VARIABLE.match(t)) else t for t in tokens)


def matches(template: str, line: str) -> bool:
    """True when ``line`` fits ``template`` (each <*> stands for one token)."""
    toks = _tokens(line)
    tmpl = _tokens(template)
    return len(toks) == len(tmpl) and all(
        a in (WILDCARD, b) for a, b in zip(tmpl, toks, strict=False)
    )


def cluster(lines: list[str], *, threshold: float = 1 / 3) -> list[Cluster]:
    """Cluster ``lines`` (None and "" are skipped); largest cluster first."""
    groups: Counter[tuple[str, ...]] = Counter()
    samples: dict[tuple[str, ...], list[str]] = {}
    total = 0
    for line in lines:
        if not line:
            continue
        total += 1
        key = _mask(_tokens(line))
        groups[key] += 1
        s = samples.setdefault(key, [])
        if len(s) < 3:
            s.append(line)
    merged: list[list] = []  # [template tokens, count, samples]
    by_len: dict[int, list[list]] = {}
    for key in sorted(groups):
        bucket = by_len.setdefault(len(key), [])
        for m in bucket:
            tmpl = m[0]
            diff = sum(1 for a, b in zip(tmpl, key, strict=False) if a != b)
            words = sum(1 for a in key if not a.isspace()) or 1
            if diff <= threshold * words and all(
                a == b or (not a.isspace() and not b.isspace())
                for a, b in zip(tmpl, key, strict=False)
            ):
                m[0] = tuple(a if a == b else WILDCARD for a, b in zip(tmpl, key, strict=False))
                m[1] += groups[key]
                m[2] = (m[2] + samples[key])[:3]
                break
        else:
            entry = [key, groups[key], list(samples[key])]
            bucket.append(entry)
            merged.append(entry)
    out = []
    for tmpl, count, smp in merged:
        text = "".join(tmpl)
        sev = next((s for s in _SEVERITY if s in text.upper()), "UNKNOWN")
        toks = tuple(t for t in tmpl if not t.isspace())
        out.append(Cluster(text, count, count / total if total else 0.0, sev, toks, tuple(smp)))
    out.sort(key=lambda c: (-c.count, c.pattern))
    return out
