"""``report.html``: one self-contained page per run to share (issue 16 item 8).

The page holds everything it shows: the verdict and its figures, a chart of
descriptors, memory and duration per invocation (hover: the invocation's
figures), the culprit lines with the source around them and what keeps them
alive (``held_by``), the failure timeline, each invocation's log lines and the
fix. Nothing is fetched: the data is a JSON block inside the page (``<`` written
as ``\\u003c``, so no ``</script>`` in a log line ends it) and the chart is drawn
by a small script inline, as SVG. Without JavaScript every section but the chart
still reads.

:func:`render_run` builds the page of a run directory, :func:`render_compare` the
page of ``fdscope compare --html`` (both runs on one chart, the comparison table).
Standard library only.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fdscope.doctor.compare import ROWS
from fdscope.doctor.culprits import kept_in
from fdscope.doctor.evidence import iter_jsonl, read_jsonl

# what a page carries of the logs: beyond it, each invocation's first lines and a note
MAX_LOG_CHARS = 2_000_000
MAX_LINES_PER_INVOCATION = 200
MAX_POINTS = 5_000  # chart points per run (a longer run is drawn every k-th invocation)
SOURCE_CONTEXT = 3  # lines either side of a culprit's line


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _script_json(doc: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: no ``<`` left in it."""
    return json.dumps(doc, default=str, separators=(",", ":")).replace("<", "\\u003c")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _points(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """[invocation, descriptors, memory MB, duration ms, status, request id] per sample."""
    step = max(1, -(-len(rows) // MAX_POINTS))
    out = []
    for i, r in enumerate(rows):
        failed = r.get("status") not in (None, "ok")
        if i % step and not failed and i != len(rows) - 1:
            continue
        rss = r.get("rss_bytes")
        out.append(
            [
                r.get("invocation"),
                r.get("fd_count"),
                None if rss is None else round(rss / 1048576, 1),
                r.get("duration_ms"),
                r.get("status") or "ok",
                r.get("request_id"),
            ]
        )
    return out


def _source(code_root: str | None, site: str | None) -> dict[str, Any] | None:
    """The lines around ``file:line`` (relative to the code root, or absolute)."""
    if not site or ":" not in site:
        return None
    name, _, line_text = site.rpartition(":")
    try:
        line = int(line_text)
    except ValueError:
        return None
    path = Path(name)
    if not path.is_absolute() and code_root:
        path = Path(code_root) / path
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    lo = max(1, line - SOURCE_CONTEXT)
    hi = min(len(lines), line + SOURCE_CONTEXT)
    return {"line": line, "first": lo, "lines": lines[lo - 1 : hi]}


def _logs(events: Iterable[dict[str, Any]]) -> tuple[dict[str, list[str]], bool]:
    """Log lines by request id (START..REPORT of each stream; ``init`` before the first
    START), at most MAX_LOG_CHARS in all; True when some were left out."""
    by_request: dict[str, list[str]] = {}
    current: dict[str, str] = {}
    total, cut = 0, False
    for ev in events:
        message = str(ev.get("message", "")).rstrip("\n")
        stream = str(ev.get("logStream", ""))
        if message.startswith("START RequestId: "):
            current[stream] = message.split()[2]
        request = current.get(stream, "init")
        lines = by_request.setdefault(request, [])
        if total + len(message) > MAX_LOG_CHARS:
            cut = True
            break  # the page is full: the rest of events.jsonl is not read
        if len(lines) >= MAX_LINES_PER_INVOCATION:
            cut = True
        else:
            lines.append(message)
            total += len(message)
        if message.startswith("REPORT RequestId: "):
            current.pop(stream, None)
    return by_request, cut


def _timeline(rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The invocations that did not end well, cold starts after the first, in order."""
    out = []
    for r in rows:
        status = r.get("status") or "ok"
        cold = bool(r.get("cold_start")) and r.get("invocation") != 1
        if status == "ok" and not cold:
            continue
        what = status if status != "ok" else "cold start"
        detail = " ".join(str(x) for x in (r.get("error_type"), r.get("error_message")) if x)
        out.append(
            {
                "invocation": r.get("invocation"),
                "what": what + (" (cold start)" if cold and status != "ok" else ""),
                "detail": detail[:500],
                "fd_count": r.get("fd_count"),
                "request_id": r.get("request_id"),
            }
        )
    return out


def run_data(run_dir: Path, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a run's page shows, read from the run directory."""
    run_dir = Path(run_dir)
    summary = dict(summary) if summary is not None else _read_json(run_dir / "summary.json")
    run = _read_json(run_dir / "run.json")
    run_id = summary.get("run_id") or run.get("run_id")
    rows = [
        r
        for r in read_jsonl(run_dir / "samples.jsonl")
        if run_id is None or r.get("run_id") in (None, run_id)
    ]
    rows.sort(key=lambda r: r.get("invocation") or 0)
    culprits = []
    for c in summary.get("culprits") or ():
        if isinstance(c, dict):
            held = c.get("held_by") if isinstance(c.get("held_by"), dict) else None
            holder = f"{held.get('file')}:{held.get('line')}" if held and held.get("line") else None
            culprits.append(
                {
                    **c,
                    "source": _source(run.get("code_root"), c.get("site")),
                    "kept_in": kept_in(held) if held else None,
                    "holder_source": _source(run.get("code_root"), holder),
                }
            )
    logs, cut = _logs(iter_jsonl(run_dir / "events.jsonl"))
    memory = summary.get("memory") if isinstance(summary.get("memory"), dict) else {}
    return {
        "title": str(run.get("handler") or summary.get("handler") or run_dir.name),
        "run_dir": str(run_dir),
        "summary": summary,
        "run": {
            k: run.get(k)
            for k in (
                "run_id",
                "handler",
                "runtime",
                "started",
                "finished",
                "fd_limit",
                "memory_mb",
                "timeout_s",
                "function_name",
            )
        },  # fmt: skip
        "limit": summary.get("limit") or run.get("fd_limit"),
        "memory_mb": (memory or {}).get("memory_mb") or run.get("memory_mb"),
        "points": _points(rows),
        "culprits": culprits,
        "timeline": _timeline(rows, summary),
        "logs": logs,
        "logs_cut": cut,
        "requests": [[r.get("invocation"), r.get("request_id")] for r in rows],
    }


# ---------------------------------------------------------------- the page


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:20px;margin:8px 0 4px}h2{font-size:16px;margin:28px 0 8px}
.verdict{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:600;color:#fff}
.v-leak,.v-worse,.v-unchanged,.v-broken{background:#c0392b}.v-gc-bound,.v-bounded{background:#d68910}
.v-none,.v-fixed,.v-improved{background:#1e8449}
table{border-collapse:collapse;background:#fff;margin:4px 0}
td,th{border:1px solid #dde1e6;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4}
pre{background:#fff;border:1px solid #dde1e6;padding:8px;overflow-x:auto;margin:4px 0;
font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
.hit{background:#fdecea;font-weight:600}
.chart{background:#fff;border:1px solid #dde1e6;position:relative}
#tip{position:absolute;pointer-events:none;background:#1d2330;color:#fff;padding:6px 9px;
border-radius:4px;font-size:12px;display:none;white-space:pre}
.fix{background:#eafaf1;border:1px solid #abebc6;padding:8px 12px}
.note{color:#566}details{margin:2px 0}summary{cursor:pointer}
.bad{color:#c0392b}
"""

# The chart: descriptors (and the limit), memory (and the memory size), duration; one
# panel each, one x axis (invocation). Hover: the nearest invocation's figures.
_JS = r"""
(function(){
"use strict";
var data = JSON.parse(document.getElementById("fdscope-data").textContent);
var NS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent){
  var e = document.createElementNS(NS, name);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v, unit){ return v === null || v === undefined ? "-" : (+v).toLocaleString() + unit; }
var runs = data.runs, box = document.getElementById("chart");
if (!box || !runs.length) return;
var W = 1040, left = 64, right = 16, panelH = 150, gap = 28, top = 12;
var panels = [
  {key: 1, name: "descriptors", unit: "", limit: "limit"},
  {key: 2, name: "memory (MB)", unit: " MB", limit: "memory_mb"},
  {key: 3, name: "duration (ms)", unit: " ms", limit: null}
];
var colors = ["#1f77b4", "#e67e22"], H = top + panels.length * (panelH + gap) + 10;
var svg = el("svg", {viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
                     "aria-label": "descriptors, memory and duration per invocation"}, box);
var xmax = 1;
runs.forEach(function(r){ r.points.forEach(function(p){ if (p[0] > xmax) xmax = p[0]; }); });
function X(v){ return left + (W - left - right) * (v - 1) / Math.max(1, xmax - 1); }
var drawn = 0, hover = [];
panels.forEach(function(pn, i){
  var y0 = top + i * (panelH + gap), ymax = 0;
  runs.forEach(function(r){
    r.points.forEach(function(p){ if (p[pn.key] !== null && p[pn.key] > ymax) ymax = p[pn.key]; });
    if (pn.limit && r[pn.limit] && pn.key !== 3) ymax = Math.max(ymax, r[pn.limit]);
  });
  ymax = ymax > 0 ? ymax * 1.05 : 1;
  function Y(v){ return y0 + panelH - panelH * v / ymax; }
  el("rect", {x: left, y: y0, width: W - left - right, height: panelH, fill: "#fbfcfd",
              stroke: "#dde1e6"}, svg);
  var t = el("text", {x: left + 6, y: y0 + 14, "font-size": 11, fill: "#566"}, svg);
  t.textContent = pn.name;
  [0, ymax / 1.05].forEach(function(v){
    var lab = el("text", {x: left - 4, y: Y(v) + 4, "font-size": 10, "text-anchor": "end",
                          fill: "#566"}, svg);
    lab.textContent = Math.round(v).toLocaleString();
  });
  runs.forEach(function(r, ri){
    if (pn.limit && r[pn.limit]) {
      el("line", {x1: left, x2: W - right, y1: Y(r[pn.limit]), y2: Y(r[pn.limit]),
                  stroke: "#c0392b", "stroke-dasharray": "5 4"}, svg);
    }
    var pts = r.points.filter(function(p){ return p[pn.key] !== null; });
    el("polyline", {points: pts.map(function(p){ return X(p[0]) + "," + Y(p[pn.key]); }).join(" "),
                    fill: "none", stroke: colors[ri % 2], "stroke-width": 1.4}, svg);
    pts.forEach(function(p){
      var bad = p[4] !== "ok";
      el("circle", {cx: X(p[0]), cy: Y(p[pn.key]), r: bad ? 3.2 : 1.8, "class": "pt",
                    fill: bad ? "#c0392b" : colors[ri % 2]}, svg);
      drawn++;
    });
  });
});
var axis = el("text", {x: W / 2, y: H - 2, "font-size": 11, "text-anchor": "middle",
                       fill: "#566"}, svg);
axis.textContent = "invocation (1 to " + xmax.toLocaleString() + ")";
svg.setAttribute("data-points", drawn);
var tip = document.getElementById("tip"), cursor = el("line", {y1: top, y2: H - 20,
  stroke: "#888", "stroke-width": 1, visibility: "hidden"}, svg);
svg.addEventListener("mousemove", function(ev){
  var rect = svg.getBoundingClientRect(), sx = (ev.clientX - rect.left) * W / rect.width;
  var inv = Math.round(1 + (sx - left) * Math.max(1, xmax - 1) / (W - left - right));
  var lines = [];
  runs.forEach(function(r){
    var best = null;
    r.points.forEach(function(p){
      if (best === null || Math.abs(p[0] - inv) < Math.abs(best[0] - inv)) best = p;
    });
    if (best === null) return;
    inv = best[0];
    lines.push((runs.length > 1 ? r.label + ": " : "") + "invocation " + best[0] +
      (best[4] !== "ok" ? "  (" + best[4] + ")" : "") +
      "\ndescriptors " + fmt(best[1], "") + "\nmemory " + fmt(best[2], " MB") +
      "\nduration " + fmt(best[3], " ms"));
  });
  cursor.setAttribute("x1", X(inv)); cursor.setAttribute("x2", X(inv));
  cursor.setAttribute("visibility", "visible");
  tip.textContent = lines.join("\n\n");
  tip.style.display = "block";
  var bx = box.getBoundingClientRect();
  tip.style.left = Math.min(ev.clientX - bx.left + 14, bx.width - 190) + "px";
  tip.style.top = (ev.clientY - bx.top + 14) + "px";
});
svg.addEventListener("mouseleave", function(){
  tip.style.display = "none"; cursor.setAttribute("visibility", "hidden");
});
})();
"""


def _figures_table(summary: Mapping[str, Any]) -> str:
    memory = summary.get("memory") if isinstance(summary.get("memory"), dict) else {}
    rows = [
        ("invocations", summary.get("invocations")),
        (
            "descriptors",
            f"peak {summary.get('peak')} of {summary.get('limit')}; "
            f"{summary.get('rate_per_invocation', 0):+.2f} per invocation "
            f"({summary.get('shape', '-')})",
        ),
        (
            "to the limit",
            "reached"
            if summary.get("emfile")
            else (
                f"{summary.get('invocations_to_limit')} more invocations"
                + (" (projected)" if summary.get("projected") else "")
                if summary.get("invocations_to_limit") is not None
                else "-"
            ),
        ),
        (
            "memory",
            f"peak {memory.get('peak_mb')} MB of {memory.get('memory_mb')} MB; "
            f"{(memory.get('rate_bytes_per_invocation') or 0) / 1048576:+.3f} MB per "
            f"invocation ({memory.get('shape', '-')})"
            if memory
            else None,
        ),
        ("first limit", summary.get("first_limit")),
        (
            "failures",
            f"EMFILE {summary.get('emfile', 0)}, timeouts {summary.get('timeouts', 0)}, "
            f"crashes {summary.get('crashes', 0)}, errors {summary.get('errors', 0)}; "
            f"cold starts {summary.get('cold_starts', 0)}",
        ),
        (
            "duration",
            f"p50 {summary.get('duration_p50_ms')} ms, p99 {summary.get('duration_p99_ms')} ms",
        ),
        ("new connections", summary.get("new_connections_per_invocation")),
        ("confidence", summary.get("confidence")),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v is not None)
    return f"<table>{body}</table>"


def _source_html(src: Mapping[str, Any] | None) -> str:
    if not src:
        return ""
    lines = []
    for i, text in enumerate(src["lines"]):
        n = src["first"] + i
        cls = ' class="hit"' if n == src["line"] else ""
        lines.append(f"<span{cls}>{n:>5}  {_e(text)}</span>")
    return "<pre>" + "\n".join(lines) + "</pre>"


def _culprits_html(culprits: list[dict[str, Any]]) -> str:
    if not culprits:
        return (
            '<p class="note">No culprit line: nothing accumulated, or origins were not tracked.</p>'
        )
    parts = []
    for c in culprits:
        head = (
            f"<p><b>{_e(c.get('count'))} {_e(c.get('kind'))}</b> created at "
            f"<code>{_e(c.get('site'))}</code> in <code>{_e(c.get('function'))}</code>"
            + (f" via <code>{_e(c.get('call'))}</code>" if c.get("call") else "")
            + (f" to {_e(c.get('endpoint'))}" if c.get("endpoint") else "")
            + (" (approximate)" if c.get("approximate") else "")
            + "</p>"
        )
        code = _source_html(c.get("source"))
        chain = c.get("chain") or []
        held = c.get("held_by")
        kept = c.get("kept_in")
        extra = ""
        if chain:
            extra += (
                "<p>call chain: " + " &larr; ".join(f"<code>{_e(x)}</code>" for x in chain) + "</p>"
            )
        if held:
            what = kept or (held if isinstance(held, str) else json.dumps(held, default=str))
            path = held.get("path") if isinstance(held, dict) else None
            extra += f'<p class="held">what keeps them alive: {_e(what)}'
            if path:
                extra += " (" + " &rarr; ".join(f"<code>{_e(x)}</code>" for x in path) + ")"
            extra += "</p>" + _source_html(c.get("holder_source"))
        parts.append(f'<div class="culprit">{head}{code}{extra}</div>')
    return "".join(parts)


def _timeline_html(timeline: list[dict[str, Any]], notes: Iterable[str]) -> str:
    notes_html = "".join(f"<li>{_e(n)}</li>" for n in notes)
    if not timeline:
        rows = '<p class="note">Every invocation ended well.</p>'
    else:
        body = "".join(
            f'<tr><td>{_e(t["invocation"])}</td><td class="bad">{_e(t["what"])}</td>'
            f"<td>{_e(t['fd_count'])}</td><td>{_e(t['detail'])}</td></tr>"
            for t in timeline[:500]
        )
        more = f'<p class="note">and {len(timeline) - 500} more</p>' if len(timeline) > 500 else ""
        rows = (
            "<table><tr><th>invocation</th><th>what</th><th>descriptors</th><th>detail</th></tr>"
            f"{body}</table>{more}"
        )
    return (f"<ul>{notes_html}</ul>" if notes_html else "") + rows


def _logs_html(data: Mapping[str, Any]) -> str:
    logs: Mapping[str, list[str]] = data["logs"]
    parts = []
    if logs.get("init"):
        parts.append(
            f"<details><summary>init</summary><pre>{_e(chr(10).join(logs['init']))}</pre></details>"
        )
    bad = {t["request_id"] for t in data["timeline"]}
    for invocation, request in data["requests"]:
        lines = logs.get(str(request))
        if not lines:
            continue
        cls = ' class="bad"' if request in bad else ""
        parts.append(
            f'<details id="req-{_e(request)}"><summary{cls}>invocation {_e(invocation)} '
            f"<code>{_e(request)}</code> ({len(lines)} lines)</summary>"
            f"<pre>{_e(chr(10).join(lines))}</pre></details>"
        )
    if data.get("logs_cut"):
        parts.append(
            '<p class="note">Some log lines are not in this page (it keeps at most '
            f"{MAX_LINES_PER_INVOCATION} lines an invocation, {MAX_LOG_CHARS:,} characters in "
            "all): events.jsonl in the run directory has them all.</p>"
        )
    return "".join(parts) or '<p class="note">No log events.</p>'


def _page(title: str, body: str, chart_data: Mapping[str, Any]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"{body}"
        f'<script type="application/json" id="fdscope-data">{_script_json(chart_data)}</script>'
        f"<script>{_JS}</script></main></body></html>\n"
    )


def _chart_run(data: Mapping[str, Any], label: str) -> dict[str, Any]:
    return {
        "label": label,
        "points": data["points"],
        "limit": data["limit"],
        "memory_mb": data["memory_mb"],
    }


def render_run(run_dir: Path, summary: Mapping[str, Any] | None = None) -> str:
    """The page of one run directory (``summary``: the doctor's, else summary.json)."""
    data = run_data(run_dir, summary)
    s = data["summary"]
    verdict = str(s.get("verdict") or "-")
    fix = s.get("advice")
    body = (
        f"<h1>fdscope doctor: {_e(data['title'])}</h1>"
        f'<p>verdict: <span id="verdict" class="verdict v-{_e(verdict)}">{_e(verdict)}</span> '
        f'<span class="note">exit {_e(s.get("exit_code"))}; run {_e(data["run"].get("run_id"))}, '
        f"{_e(data['run'].get('started'))} &ndash; {_e(data['run'].get('finished'))}</span></p>"
        f"{_figures_table(s)}"
        + (f'<h2>The fix</h2><p class="fix" id="fix">{_e(fix)}</p>' if fix else "")
        + '<h2>Per invocation</h2><div class="chart" id="chart"><div id="tip"></div></div>'
        '<p class="note">Hover for an invocation\'s descriptors, memory and duration; red '
        "points failed; dashed lines are the limits.</p>"
        f"<h2>Culprits</h2>{_culprits_html(data['culprits'])}"
        + (
            "<h2>Also found by lint</h2><pre>"
            + _e("\n".join(str(x) for x in s.get("static_findings") or ()))
            + "</pre>"
            if s.get("static_findings")
            else ""
        )
        + f"<h2>Failure timeline</h2>{_timeline_html(data['timeline'], s.get('notes') or ())}"
        + f"<h2>Logs by invocation</h2>{_logs_html(data)}"
        + f'<p class="note">run directory: {_e(data["run_dir"])}</p>'
    )
    return _page(f"fdscope: {verdict} - {data['title']}", body, {"runs": [_chart_run(data, "run")]})


def render_compare(before: Path, after: Path, comparison: Mapping[str, Any]) -> str:
    """The page of ``fdscope compare --html``: ``comparison`` is Comparison.to_json()."""
    a, b = run_data(before), run_data(after)
    fa, fb = comparison.get("before", {}), comparison.get("after", {})
    outcome = str(comparison.get("outcome"))
    table = "".join(
        f"<tr><th>{_e(label)}</th><td>{_e(fa.get(key))}</td><td>{_e(fb.get(key))}</td></tr>"
        for label, key in ROWS.items()
    )
    reasons = "".join(f"<li>{_e(r)}</li>" for r in comparison.get("reasons") or ())
    warnings = "".join(f"<li>{_e(w)}</li>" for w in comparison.get("warnings") or ())
    fix = b["summary"].get("advice") or a["summary"].get("advice")
    body = (
        f"<h1>fdscope compare: {_e(a['title'])}</h1>"
        f'<p>the fix: <span id="verdict" class="verdict v-{_e(outcome)}">{_e(outcome)}</span></p>'
        f"<ul>{reasons}</ul>"
        + (f'<p class="note">warnings:</p><ul>{warnings}</ul>' if warnings else "")
        + "<table><tr><th></th><th>before</th><th>after</th></tr>"
        f"{table}</table>"
        '<h2>Per invocation</h2><div class="chart" id="chart"><div id="tip"></div></div>'
        '<p class="note">before in blue, after in orange; hover for both runs\' figures.</p>'
        f"<h2>Before: culprits</h2>{_culprits_html(a['culprits'])}"
        f"<h2>After: culprits</h2>{_culprits_html(b['culprits'])}"
        + (f'<h2>The advice</h2><p class="fix">{_e(fix)}</p>' if fix else "")
        + f"<h2>Before: failure timeline</h2>{_timeline_html(a['timeline'], ())}"
        f"<h2>After: failure timeline</h2>{_timeline_html(b['timeline'], ())}"
        f'<p class="note">before: {_e(a["run_dir"])}<br>after: {_e(b["run_dir"])}</p>'
    )
    runs = [_chart_run(a, "before"), _chart_run(b, "after")]
    return _page(f"fdscope compare: {outcome}", body, {"runs": runs})
