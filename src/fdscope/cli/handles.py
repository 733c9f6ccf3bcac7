"""``fdscope handles [PID]`` (the inventory) and ``fdscope watch PID`` (a live count)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from typing import Any

from fdscope import handles as H
from fdscope._extras import extra
from fdscope.errors import HandlesError

with extra("cli"):
    import click

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int] | deque[int], width: int = 40) -> str:
    """The last ``width`` values as block characters scaled between their min and max."""
    vals = list(values)[-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return _BLOCKS[0] * len(vals)
    scale = (len(_BLOCKS) - 1) / (hi - lo)
    return "".join(_BLOCKS[round((v - lo) * scale)] for v in vals)


def fd_ranges(fds: tuple[int, ...] | list[int], limit: int = 6) -> str:
    """``3-7,9,12`` with at most ``limit`` pieces (then ``…``)."""
    pieces: list[str] = []
    nums = sorted(fds)
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        pieces.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(pieces[:limit]) + (",…" if len(pieces) > limit else "")


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
        text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        return text[:80] + ("…" if len(text) > 80 else "")
    except OSError:
        return ""


def _notes(group: H.Group) -> str:
    """What the handles of one group have in common: state counts, modes, ends."""
    counts: dict[str, int] = {}
    for h in group.handles:
        mode = h.mode and h.kind != "pipe" and f"mode {h.mode}"  # a pipe's end says it
        for word in (h.state, mode, h.pipe_end and f"{h.pipe_end} end"):
            if word:
                counts[word] = counts.get(word, 0) + 1
        if h.kind == "unix" and h.type:
            counts[h.type] = counts.get(h.type, 0) + 1
    return ", ".join(f"{w}×{n}" if n > 1 else w for w, n in counts.items())


def _limit_text(snap: H.Snapshot) -> str:
    soft = "?" if snap.soft_limit is None else str(snap.soft_limit)
    hard = "?" if snap.hard_limit is None else str(snap.hard_limit)
    pct = f" ({100 * snap.count / snap.soft_limit:.1f}%)" if snap.soft_limit else ""
    return f"{snap.count} open of {soft} (soft) / {hard} (hard){pct}"


def _header(snap: H.Snapshot) -> str:
    cmd = _command_line(snap.pid)
    kids = f", children {', '.join(map(str, snap.children))}" if snap.children else ""
    threads = f", {snap.threads} threads" if snap.threads is not None else ""
    return f"pid {snap.pid}{' ' + cmd if cmd else ''}: {_limit_text(snap)}{threads}{kids}"


def _summary_line(snap: H.Snapshot) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(snap.by_kind().items(), key=lambda x: -x[1]))
    return f"pid {snap.pid}: {_limit_text(snap)}: {kinds or 'nothing open'}"


def _group_table(snap: H.Snapshot, console: Any) -> None:
    with extra("cli"):
        from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("kind")
    table.add_column("endpoint / path", overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("fds")
    table.add_column("notes")
    for g in H.group(snap.handles):
        table.add_row(g.kind, g.endpoint, str(g.count), fd_ranges(g.fds), _notes(g))
    console.print(table)


def _list_table(snap: H.Snapshot, console: Any) -> None:
    with extra("cli"):
        from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("fd", "kind", "what", "mode", "pos", "inode", "peer"):
        table.add_column(col, justify="right" if col in ("fd", "pos", "inode", "peer") else "left")
    for h in snap.handles:
        table.add_row(
            str(h.fd),
            h.kind,
            h.describe().partition(" ")[2] or h.target,
            h.mode or "",
            "" if h.pos is None else str(h.pos),
            "" if h.inode is None else str(h.inode),
            "" if h.peer_fd is None else str(h.peer_fd),
        )
    console.print(table)


def _zombie_parent(pid: int) -> int | None:
    """The parent of ``pid`` when it is a zombie (exited, not reaped), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) >= 2 and fields[0] in ("Z", "X"):
        return int(fields[1])
    return None


class BadPid(HandlesError):
    """A PID argument that names no live process: a usage error (the CLI: one line, exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"invalid PID: {message}")


def _target(pid: int) -> int:
    """Check the PID the user named: PID 0 or below, or a zombie, is a usage error."""
    if pid <= 0:
        raise BadPid(f"{pid} is not a process id (they start at 1)")
    parent = _zombie_parent(pid)
    if parent is not None:
        raise BadPid(
            f"process {pid} is a zombie: it has exited and holds no descriptors; its parent "
            f"(pid {parent}) has not reaped it yet"
        )
    return pid


def _named(pid: int, tree: bool, details: bool) -> list[H.Snapshot]:
    """The first look at the process the user named: one that is not there is a usage
    error (a zombie, no such pid), not "process is gone"."""
    _target(pid)
    try:
        return _snapshots(pid, tree, details)
    except H.ProcessGone:
        _target(pid)  # it became a zombie meanwhile
        raise


def _snapshots(pid: int, tree: bool, details: bool) -> list[H.Snapshot]:
    snaps = [H.snapshot(pid, details=details)]
    if tree:
        for child in H.descendants(pid):
            try:
                snaps.append(H.snapshot(child, details=details))
            except (H.ProcessGone, H.AccessDenied):
                continue  # exited (or not ours) meanwhile
    return snaps


@click.command()
@click.argument("pid", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (fdscope.handles/1).")
@click.option("--summary", is_flag=True, help="One line per process: counts by kind.")
@click.option("--tree", is_flag=True, help="Include every descendant process (worker trees).")
@click.option("--list", "as_list", is_flag=True, help="One row per descriptor, not groups.")
@click.option(
    "--details/--no-details",
    default=True,
    show_default=True,
    help="Read fdinfo too: position, open flags, mode of files, end of pipes.",
)
def handles(
    pid: int | None, as_json: bool, summary: bool, tree: bool, as_list: bool, details: bool
) -> None:
    """Show what process PID (default: this command itself) holds open, grouped by kind
    and by remote endpoint or path."""
    target = os.getpid() if pid is None else pid
    snaps = _named(target, tree, details)
    if as_json:
        if tree:
            doc: dict[str, Any] = {
                "schema": "fdscope.handles-tree/1",
                "root": target,
                "total": sum(s.count for s in snaps),
                "processes": [H.to_json(s) for s in snaps],
            }
        else:
            doc = H.to_json(snaps[0])
        click.echo(json.dumps(doc, indent=2))
        return
    if summary:
        for snap in snaps:
            click.echo(_summary_line(snap))
        if tree and len(snaps) > 1:
            click.echo(
                f"total: {sum(s.count for s in snaps)} descriptors in {len(snaps)} processes"
            )
        return
    with extra("cli"):
        from rich.console import Console

    # piped output keeps long paths on one line, for grep
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 400)
    for i, snap in enumerate(snaps):
        if i:
            console.print()
        console.print(_header(snap), style="bold", markup=False)
        (_list_table if as_list else _group_table)(snap, console)
    if tree and len(snaps) > 1:
        console.print(
            f"\ntotal: {sum(s.count for s in snaps)} descriptors in {len(snaps)} processes"
        )


def _tree_handles(pid: int, tree: bool) -> tuple[H.Snapshot, list[H.Handle], int]:
    """(root snapshot, every handle of the tree, count) for one refresh of ``watch``."""
    snaps = _snapshots(pid, tree, details=False)
    hs: list[H.Handle] = [h for s in snaps for h in s.handles]
    return snaps[0], hs, len(hs)


def _growth(
    base: dict[tuple[str, str], int], hs: list[H.Handle]
) -> list[tuple[int, int, str, str]]:
    """(delta, now, kind, endpoint) of groups that grew since the first refresh."""
    out = []
    for g in H.group(hs, patterns=True):  # /tmp/server-*.sock: one growing group
        delta = g.count - base.get((g.kind, g.endpoint), 0)
        if delta > 0:
            out.append((delta, g.count, g.kind, g.endpoint))
    out.sort(key=lambda x: (-x[0], x[2], x[3]))
    return out


def _render(
    pid: int, snap: H.Snapshot, total: int, history: deque[int], grown: list, top: int, tree: bool
) -> str:
    limit = snap.soft_limit
    pct = f" {100 * total / limit:5.1f}%" if limit else ""
    first = history[0] if history else total
    who = f"pid {pid}" + (" + children" if tree else "")
    lines = [
        f"{time.strftime('%H:%M:%S')} {who}: {total} / {limit if limit else '?'}{pct}  "
        f"{total - first:+d} since start  {sparkline(history)}"
    ]
    for delta, now, kind, ep in grown[:top]:
        lines.append(f"    {kind:<9} {ep}  {delta:+d} (now {now})")
    return "\n".join(lines)


@click.command()
@click.argument("pid", type=int)
@click.option("--tree", is_flag=True, help="Count the process and all its descendants.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds between refreshes.",
)
@click.option("--top", default=5, show_default=True, help="Growing groups to show.")
@click.option("--iterations", type=int, default=None, help="Stop after N refreshes.")
@click.option("--plain", is_flag=True, help="One line per refresh, no live screen.")
def watch(
    pid: int, tree: bool, interval: float, top: int, iterations: int | None, plain: bool
) -> None:
    """Watch the descriptor count of PID against its limit, live, with the groups that
    grow; ends on Ctrl-C or when the process exits."""
    history: deque[int] = deque(maxlen=120)  # the sparkline's window
    _named(pid, False, False)
    snap, hs, total = _tree_handles(pid, tree)
    base = {(g.kind, g.endpoint): g.count for g in H.group(hs, patterns=True)}
    live_mode = not plain and sys.stdout.isatty()
    live: Any = None
    if live_mode:
        with extra("cli"):
            from rich.live import Live
            from rich.text import Text

        live = Live(auto_refresh=False)
        live.start()
    n = 0
    message = ""
    try:
        while True:
            history.append(total)
            frame = _render(pid, snap, total, history, _growth(base, hs), top, tree)
            if live is not None:
                live.update(Text(frame), refresh=True)
            else:
                click.echo(frame, nl=True)
            n += 1
            if iterations is not None and n >= iterations:
                break
            time.sleep(interval)
            try:
                snap, hs, total = _tree_handles(pid, tree)
            except H.ProcessGone:
                message = f"process {pid} exited"
                break
    except KeyboardInterrupt:
        message = "stopped"
    finally:
        if live is not None:
            live.stop()
    first = history[0]
    end = f"{message}; " if message else ""
    click.echo(
        f"{end}{n} refreshes, {first} -> {history[-1]} ({history[-1] - first:+d}), "
        f"peak {max(history)}"
    )
