"""The /proc parsers on fake trees and random input (proc_root points at a tmp dir)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope import handles
from fdscope.handles import _net


@given(st.binary(min_size=16, max_size=16))
def test_ipv6_text_is_what_inet_ntop_writes(packed: bytes) -> None:
    assert _net.format_ipv6(packed) == socket.inet_ntop(socket.AF_INET6, packed)


def _hex4(packed: bytes) -> str:
    return f"{int.from_bytes(packed, sys.byteorder):08X}"


@given(st.binary(min_size=4, max_size=4), st.integers(0, 65535))
def test_ipv4_endpoints_round_trip(packed: bytes, port: int) -> None:
    text, unspecified = _net.parse_endpoint(f"{_hex4(packed)}:{port:04X}", v6=False)
    assert text == f"{socket.inet_ntoa(packed)}:{port}"
    assert unspecified == (packed == bytes(4) and port == 0)


@given(st.binary(min_size=16, max_size=16), st.integers(0, 65535))
def test_ipv6_endpoints_round_trip(packed: bytes, port: int) -> None:
    hexaddr = "".join(_hex4(packed[i : i + 4]) for i in range(0, 16, 4))
    text, _ = _net.parse_endpoint(f"{hexaddr}:{port:04X}", v6=True)
    assert text == f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{port}"


TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)


def _tcp_line(n: int, local: str, remote: str, st_hex: str, inode: int) -> str:
    return (
        f"  {n}: {local} {remote} {st_hex} 00000000:00000000 00:00000000 00000000"
        f"     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n"
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=120), max_size=20))
def test_tables_with_garbage_lines_never_raise(tmp_path_factory, junk: list[str]) -> None:
    net = tmp_path_factory.mktemp("net")
    good = _tcp_line(0, "0100007F:1F90", "0100007F:D431", "01", 4242)
    body = TCP_HEADER + "".join(j.replace("\n", " ") + "\n" for j in junk) + good
    for table in ("tcp", "unix", "netlink", "packet"):
        (net / table).write_text(body)
    found = _net.inet_sockets(str(net), {4242, 7})
    assert found[4242][3:] == ("127.0.0.1:8080", "127.0.0.1:54321", "ESTABLISHED")
    _net.unix_sockets(str(net), {4242})
    _net.netlink_sockets(str(net), {4242})
    _net.packet_sockets(str(net), {4242})


def _fake_process(root: Path, pid: int, links: dict[int, str], tables: dict[str, str]) -> None:
    (root / str(pid) / "fd").mkdir(parents=True)
    (root / str(pid) / "net").mkdir()
    (root / str(pid) / "task" / str(pid)).mkdir(parents=True)
    (root / str(pid) / "stat").write_text(f"{pid} (fake) S 1 {pid} {pid} 0 -1\n")
    (root / str(pid) / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units\n"
        "Max open files            1024                 4096                 files\n"
    )
    for fd, target in links.items():
        os.symlink(target, root / str(pid) / "fd" / str(fd))
    for name, text in tables.items():
        (root / str(pid) / "net" / name).write_text(text)


def test_fake_tree_sockets_come_from_the_targets_own_tables(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    data = tmp_path / "data.txt"
    data.write_text("x")
    v6_local = "00000000000000000000000001000000:0050"  # [::1]:80
    v6_remote = "00000000000000000000000001000000:C000"
    _fake_process(
        proc,
        4321,
        {0: str(data), 3: "socket:[100]", 4: "socket:[101]", 5: "socket:[102]", 6: "net:[4026]"},
        {
            "tcp": TCP_HEADER + _tcp_line(0, "0100007F:1F90", "00000000:0000", "0A", 100),
            "tcp6": TCP_HEADER + _tcp_line(0, v6_local, v6_remote, "08", 101),
            "unix": "Num RefCount Protocol Flags Type St Inode Path\n"
            "0000: 00000002 00000000 00010000 0005 01 102 @abstract name\n",
        },
    )
    snap = handles.snapshot(4321, proc_root=proc)
    got = {h.fd: h for h in snap.handles}
    assert (snap.soft_limit, snap.hard_limit) == (1024, 4096)
    assert (got[0].kind, got[0].path, got[0].inode) == ("file", str(data), data.stat().st_ino)
    assert (got[3].kind, got[3].local, got[3].remote, got[3].state) == (
        "tcp",
        "127.0.0.1:8080",
        None,
        "LISTEN",
    )
    assert (got[4].kind, got[4].local, got[4].remote, got[4].state) == (
        "tcp6",
        "[::1]:80",
        "[::1]:49152",
        "CLOSE_WAIT",
    )
    assert (got[5].kind, got[5].type, got[5].path) == ("unix", "seqpacket", "@abstract name")
    assert (got[6].kind, got[6].inode) == ("unknown", 4026)


def test_missing_process_is_process_gone(tmp_path: Path) -> None:
    with pytest.raises(handles.ProcessGone) as info:
        handles.snapshot(999999, proc_root=tmp_path)
    assert info.value.pid == 999999
    with pytest.raises(handles.ProcessGone):
        handles.count(999999, proc_root=tmp_path)


def test_sock_diag_and_the_text_tables_agree() -> None:
    """The two inet paths (sock_diag in our namespace, /proc/PID/net text otherwise)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname())
    acc, _ = srv.accept()
    srv6 = socket.socket(socket.AF_INET6)
    srv6.bind(("::1", 0))
    srv6.listen()
    cli6 = socket.create_connection(srv6.getsockname()[:2])
    acc6, _ = srv6.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    mapped = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    mapped.bind(("::", 0))
    mapped.connect(("::ffff:127.0.0.1", udp.getsockname()[1]))
    socks = (srv, cli, acc, srv6, cli6, acc6, udp, mapped)
    try:
        wanted = {os.fstat(s.fileno()).st_ino for s in socks}
        fast = _net.inet_diag(wanted)
        text = _net.inet_sockets(f"/proc/{os.getpid()}/net", wanted)
        assert fast == text
        assert set(fast) == wanted
        m = fast[os.fstat(mapped.fileno()).st_ino]
        assert m[0] == "udp6" and m[4] == f"[::ffff:127.0.0.1]:{udp.getsockname()[1]}"
    finally:
        for s in socks:
            s.close()
