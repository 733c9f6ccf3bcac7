"""The culprits: creation sites whose handles accumulate, from the origins reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdscope.local import Sample


@dataclass(frozen=True)
class Culprit:
    """A creation site whose handles accumulate (FORMATS.md §2 ``culprits``)."""

    site: str  # "app.py:17", relative to the code root when inside it
    function: str | None
    call: str | None  # the library call made at the site ("socket.create_connection")
    kind: str  # the kinds of the handles, most common first ("tcp", "tcp+unix")
    endpoint: str | None  # the most common endpoint of those handles
    count: int  # handles from this site that accumulated over the run
    approximate: bool  # the site was inferred (descriptor made in C code), not recorded
    chain: tuple[str, ...] = ()  # the call chain from the handler down to the site
    # what keeps the handles alive, from the origins reports' ``held_by`` (the latest
    # report that has one for this site): {kind, name, file, line, path}; None if unknown
    held_by: dict[str, Any] | None = None

    def kept_in(self) -> str | None:
        """``kept in `_recent_tables` (app.py:12)``, ``kept in a reference cycle``; None."""
        return kept_in(self.held_by)


def kept_in(held: Mapping[str, Any] | None) -> str | None:
    """The holder in words, for the fix sentence."""
    if not held:
        return None
    kind, name = held.get("kind"), str(held.get("name") or "?")
    loc = f" ({held['file']}:{held['line']})" if held.get("file") and held.get("line") else ""
    if kind == "cycle":
        return "kept only by a reference cycle (freed when the garbage collector runs)"
    if kind in ("module", "class") and held.get("owner") == "library":
        # not the user's name: a library's own bookkeeping holds it (subprocess._active keeps
        # every child never waited for)
        return f"kept in `{name}` (the library's own state, not your code's)"
    if kind == "module":
        return f"kept in `{name.rpartition('.')[2]}`{loc}"
    if kind == "class":
        return f"kept in class attribute `{name}`{loc}"
    if kind == "logger":
        return f"kept in the handlers of logger {name!r}"
    if kind == "task":
        return f"kept by asyncio task {name}"
    if kind == "loop":
        return "kept by the event loop"
    if kind == "thread":
        return f"kept by thread {name!r}"
    if kind == "frame":
        return f"kept by {name}, still running"
    return f"kept by {kind} {name}"


def kind_growth(seg: Sequence[Sample]) -> dict[str, int]:
    """Kinds whose count grew from the first warm sample to the peak sample."""
    with_kinds = [s for s in seg if s.by_kind and s.fd_count is not None]
    if len(with_kinds) < 2:
        return {}
    base = with_kinds[1] if len(with_kinds) > 2 else with_kinds[0]
    top = max(with_kinds, key=lambda s: s.fd_count or 0)
    growth = {k: top.by_kind.get(k, 0) - base.by_kind.get(k, 0) for k in top.by_kind}
    return {k: v for k, v in sorted(growth.items(), key=lambda kv: -kv[1]) if v > 0}


def _relative(file: str, code_root: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(code_root.resolve()))
    except (ValueError, OSError):
        return file


def _chain(stack: Sequence[Mapping[str, Any]], code_root: Path) -> tuple[str, ...]:
    """The user's frames of a creation stack, outermost (the handler) first."""
    root = str(code_root.resolve())
    frames = [
        f"{f.get('function')} ({_relative(str(f.get('file')), code_root)}:{f.get('line')})"
        for f in stack
        if str(f.get("file", "")).startswith(root)
    ]
    return tuple(reversed(frames))


def culprits_from(
    reports: Sequence[Mapping[str, Any]],
    stream: str | None,
    code_root: Path,
    handler_file: Path | None = None,
) -> tuple[tuple[Culprit, ...], dict[str, int]]:
    """Sites whose handle count grew between an early report and the peak report,
    and the growth per kind over all sites."""
    own = [r for r in reports if stream is None or r.get("stream") in (None, stream)]
    if not own:
        return (), {}
    # the peak report: the highest count, the latest among equals (threads-only leaks)
    peak = max(own, key=lambda r: (r.get("count", 0), r.get("invocation") or 0))
    base = own[min(1, len(own) - 1)] if own[0] is not peak else own[0]

    def groups(report: Mapping[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for g in report.get("groups", ()):
            site = g.get("site") or {}
            key = (site.get("file"), site.get("line"), site.get("call"))
            if g.get("held_by") and isinstance(g["held_by"], dict):
                inv = report.get("invocation") or 0
                if key not in holders or inv >= holders[key][0]:
                    holders[key] = (inv, g["held_by"])
            slot = out.setdefault(
                key,
                {
                    "site": site,
                    "stack": g.get("stack") or [],
                    "count": 0,
                    "kinds": {},
                    "endpoints": {},
                },
            )
            n = int(g.get("count", 0))
            slot["count"] += n
            kind = g.get("kind") or "unknown"
            slot["kinds"][kind] = slot["kinds"].get(kind, 0) + n
            if g.get("endpoint"):
                slot["endpoints"][g["endpoint"]] = slot["endpoints"].get(g["endpoint"], 0) + n
        return out

    holders: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    # sites whose handles were accepted by a server (Node's trigger chain): the far end
    # of connections the user's code opened elsewhere ranks after that code at a tie
    accepted = {
        f"{_relative(str((g.get('site') or {}).get('file')), code_root)}:"
        f"{(g.get('site') or {}).get('line')}"
        for r in own
        for g in r.get("groups", ())
        if str(g.get("async_parent") or "").endswith("SERVERWRAP")
    }
    before = groups(base)
    # each site at its own highest count over the run: in a saw-tooth the site's peak
    # and the report with the most handles need not coincide (a collection may have
    # cleared that site just before the biggest report)
    after = groups(peak)
    for report in own:
        if report is peak:
            continue
        for key, g in groups(report).items():
            if key not in after or g["count"] > after[key]["count"]:
                after[key] = g
    found: list[Culprit] = []
    kinds: dict[str, int] = {}
    for key, g in after.items():
        old = before.get(key, {}).get("kinds", {}) if base is not peak else {}
        for kind, n in g["kinds"].items():
            if n - old.get(kind, 0) > 0:
                kinds[kind] = kinds.get(kind, 0) + n - old.get(kind, 0)
        grew = g["count"] - (before.get(key, {}).get("count", 0) if base is not peak else 0)
        if grew <= 0:
            continue
        site = g["site"]
        site_kinds = sorted(g["kinds"], key=lambda k: -g["kinds"][k])
        endpoint = max(g["endpoints"], key=g["endpoints"].get) if g["endpoints"] else None
        found.append(
            Culprit(
                site=f"{_relative(str(site.get('file')), code_root)}:{site.get('line')}",
                function=site.get("function"),
                call=site.get("call"),
                kind="+".join(site_kinds),
                endpoint=endpoint,
                count=grew,
                approximate=bool(site.get("approximate")),
                chain=_chain(g["stack"], code_root),
                held_by=holders[key][1] if key in holders else None,
            )
        )
    # the user's own lines first (the handler's module before the rest of the code
    # root, before libraries), then by how many handles accumulated
    home = _relative(str(handler_file), code_root) if handler_file else None
    found.sort(
        key=lambda c: (
            c.approximate,
            c.site.rsplit(":", 1)[0] != home,
            Path(c.site.rsplit(":", 1)[0]).is_absolute(),
            -c.count,
            c.site in accepted,
            c.site,
        )
    )
    ordered = dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
    return tuple(found[:8]), ordered


def loop_holders(reports: Sequence[Mapping[str, Any]], code_root: Path) -> tuple[Culprit, ...]:
    """The handles that kept Node's event loop alive when invocations timed out (the
    ``loop`` list of the reports sent at a timeout), by site, the most frequent first;
    handles without a site (the runtime's own stdio) are left out."""
    by_site: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in reports:
        if r.get("trigger") != "timeout":
            continue
        for h in r.get("loop") or ():
            site = h.get("site") or {}
            if not site.get("file"):
                continue
            key = (site.get("file"), site.get("line"), site.get("call"))
            slot = by_site.setdefault(key, {"site": site, "count": 0, "kinds": {}, "ends": {}})
            slot["count"] += 1
            kind = str(h.get("kind") or "unknown")
            slot["kinds"][kind] = slot["kinds"].get(kind, 0) + 1
            detail = str(h.get("detail") or "")
            end = detail.split(" ")[1] if detail.count(" ") >= 1 else ""
            if end:
                slot["ends"][end] = slot["ends"].get(end, 0) + 1
    out = [
        Culprit(
            site=f"{_relative(str(g['site'].get('file')), code_root)}:{g['site'].get('line')}",
            function=g["site"].get("function"),
            call=g["site"].get("call"),
            kind="+".join(sorted(g["kinds"], key=lambda k: -g["kinds"][k])),
            endpoint=max(g["ends"], key=g["ends"].get) if g["ends"] else None,
            count=g["count"],
            approximate=bool(g["site"].get("approximate")),
        )
        for g in by_site.values()
    ]
    out.sort(key=lambda c: (c.approximate, Path(c.site.rsplit(":", 1)[0]).is_absolute(), -c.count))
    return tuple(out[:8])
