"""The target's network tables (``/proc/PID/net/*``) and UNIX peers (sock_diag).

Everything here reads the network namespace of the *target* process, through
its own ``/proc/PID/net``; the sock_diag query (UNIX peers) runs in the
caller's namespace and is only used when the two are the same.
"""

from __future__ import annotations

import _socket
import os
import struct
import sys
from array import array
from pathlib import Path

_LITTLE = sys.byteorder == "little"

TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}

UNIX_TYPES = {1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket"}

NETLINK_PROTOCOLS = {
    0: "route",
    1: "unused",
    2: "usersock",
    3: "firewall",
    4: "sock_diag",
    5: "nflog",
    6: "xfrm",
    7: "selinux",
    8: "iscsi",
    9: "audit",
    10: "fib_lookup",
    11: "connector",
    12: "netfilter",
    13: "ip6_fw",
    14: "dnrtmsg",
    15: "kobject_uevent",
    16: "generic",
    18: "scsitransport",
    19: "ecryptfs",
    20: "rdma",
    21: "crypto",
    22: "smc",
}

# (table file, kind, family, type)
INET_TABLES = (
    ("tcp", "tcp", "inet", "stream"),
    ("tcp6", "tcp6", "inet6", "stream"),
    ("udp", "udp", "inet", "dgram"),
    ("udp6", "udp6", "inet6", "dgram"),
    ("udplite", "udp", "inet", "dgram"),
    ("udplite6", "udp6", "inet6", "dgram"),
    ("raw", "socket", "inet", "raw"),
    ("raw6", "socket", "inet6", "raw"),
)


def _ipv4(hexaddr: str) -> str:
    b = int(hexaddr, 16).to_bytes(4, "little" if _LITTLE else "big")
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def format_ipv6(packed: bytes) -> str:
    """RFC 5952 text of 16 packed bytes, as ``inet_ntop`` writes it (IPv4-mapped kept)."""
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(x) for x in packed[12:])
    words = [(packed[i] << 8) | packed[i + 1] for i in range(0, 16, 2)]
    # longest run of zero words (length >= 2), first one on ties
    best_start, best_len, i = -1, 0, 0
    while i < 8:
        if words[i] == 0:
            j = i
            while j < 8 and words[j] == 0:
                j += 1
            if j - i > best_len:
                best_start, best_len = i, j - i
            i = j
        else:
            i += 1
    if best_len < 2:
        return ":".join(f"{w:x}" for w in words)
    head = ":".join(f"{w:x}" for w in words[:best_start])
    tail = ":".join(f"{w:x}" for w in words[best_start + best_len :])
    return f"{head}::{tail}"


def _ipv6(hexaddr: str) -> str:
    packed = b"".join(
        int(hexaddr[i : i + 8], 16).to_bytes(4, "little" if _LITTLE else "big")
        for i in range(0, 32, 8)
    )
    return format_ipv6(packed)


_HOSTS: dict[str, str] = {}


def parse_endpoint(text: str, v6: bool) -> tuple[str, bool]:
    """``"0100007F:1F90"`` -> (``"127.0.0.1:8080"``, is_unspecified)."""
    addr, _, port_hex = text.partition(":")
    port = int(port_hex, 16)
    host = _HOSTS.get(addr)
    if host is None:
        host = f"[{_ipv6(addr)}]" if v6 else _ipv4(addr)
        if len(_HOSTS) < 4096:
            _HOSTS[addr] = host
    return f"{host}:{port}", port == 0 and not addr.strip("0")


def read_text(path: str) -> str | None:
    """Whole file as text, or None when it does not exist (process or table gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 17)
            if not chunk:
                break
            chunks.append(chunk)
    except (FileNotFoundError, ProcessLookupError):  # the fd or process went meanwhile
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


InetEntry = tuple[
    str, str, str, str, "str | None", "str | None"
]  # kind, family, type, local, remote, state


def inet_sockets(net_dir: str, wanted: set[int]) -> dict[int, tuple]:
    """inode -> (kind, family, type, local, remote or None, state or None) for wanted inodes."""
    found: dict[int, tuple] = {}
    for table, kind, family, stype in INET_TABLES:
        if len(found) == len(wanted):
            break
        text = read_text(f"{net_dir}/{table}")
        if not text:
            continue
        v6 = family == "inet6"
        tcp = table.startswith("tcp")
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 10:
                continue
            try:
                inode = int(parts[9])
            except ValueError:
                continue
            if inode not in wanted or inode in found:
                continue
            try:
                local, _ = parse_endpoint(parts[1], v6)
                remote, unspecified = parse_endpoint(parts[2], v6)
                st = int(parts[3], 16)
            except (ValueError, IndexError, OverflowError):
                continue
            state = TCP_STATES.get(st) if tcp else None
            found[inode] = (kind, family, stype, local, None if unspecified else remote, state)
    return found


# /proc/net/unix "St" (socket_state) and the Flags bit of a listening socket (__SO_ACCEPTCON);
# the names are lsof's ("(LISTEN)", "(CONNECTED)"); ss says LISTEN, ESTAB, UNCONN
UNIX_STATES = {1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}
_SO_ACCEPTCON = 0x10000


def unix_sockets(net_dir: str, wanted: set[int]) -> dict[int, tuple[str, str | None, str | None]]:
    """inode -> (type name, path or "@abstract" or None, state) for every UNIX socket in the table.

    The state is "LISTEN" for a listening socket, else the kernel's socket state
    (:data:`UNIX_STATES`), None when the line does not say.
    """
    found: dict[int, tuple[str, str | None, str | None]] = {}
    text = read_text(f"{net_dir}/unix")
    if not text:
        return found
    for line in text.splitlines()[1:]:
        parts = line.split(None, 7)
        if len(parts) < 7:
            continue
        try:
            inode = int(parts[6])
        except ValueError:
            continue
        try:
            stype = UNIX_TYPES.get(int(parts[4], 16), parts[4])
        except ValueError:
            continue
        try:
            flags = int(parts[3], 16)
            state: str | None = (
                "LISTEN" if flags & _SO_ACCEPTCON else UNIX_STATES.get(int(parts[5], 16))
            )
        except ValueError:
            state = None
        found[inode] = (stype, parts[7] if len(parts) > 7 else None, state)
    return found


def netlink_sockets(net_dir: str, wanted: set[int]) -> dict[int, str]:
    """inode -> netlink protocol name."""
    found: dict[int, str] = {}
    text = read_text(f"{net_dir}/netlink")
    if not text:
        return found
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            inode = int(parts[9])
        except ValueError:
            continue
        if inode in wanted:
            try:
                proto = int(parts[1])
            except ValueError:
                continue
            found[inode] = NETLINK_PROTOCOLS.get(proto, str(proto))
    return found


def packet_sockets(net_dir: str, wanted: set[int]) -> set[int]:
    """Inodes of AF_PACKET sockets among wanted."""
    text = read_text(f"{net_dir}/packet")
    found: set[int] = set()
    if not text:
        return found
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 9:
            try:
                inode = int(parts[8])
            except ValueError:
                continue
            if inode in wanted:
                found.add(inode)
    return found


# sock_diag (netlink) constants
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLM_F_DUMP = 0x300
_NLMSG_DONE = 3
_NLMSG_ERROR = 2
_UDIAG_SHOW_PEER = 0x04
_UNIX_DIAG_PEER = 2
_NLMSG = struct.Struct("=IHHII")
_UNIX_REQ = struct.Struct("=BBHIIIII")
_UNIX_MSG = struct.Struct("=BBBBIII")
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")


def same_netns(proc_root: Path, pid: int) -> bool:
    """True when pid lives in the caller's network namespace."""
    try:
        return os.stat(f"{proc_root}/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def _messages(  # type: ignore[no-untyped-def]
    sock: _socket.socket, payload: bytes, seq: int, record: int = 0, wanted: set[int] | None = None
):
    """Send one sock_diag dump request; yield (buffer, offsets of its answer messages).

    With ``record`` (the size every answer has, its last word the inode), leading runs
    of such answers are located at C speed (an array over the buffer) instead of
    message by message, and only those whose inode is in ``wanted`` are yielded.
    """
    msg = _NLMSG.pack(
        _NLMSG.size + len(payload), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0
    )
    sock.sendto(msg + payload, (0, 0))
    unpack = _NLMSG_HEAD.unpack_from
    words_per = record // 4
    while True:
        data = sock.recv(1 << 17)
        if not data:
            return
        offsets: list[int] = []
        off, size = 0, len(data)
        if record and size >= record:
            words = array("I")
            words.frombytes(data[: size - size % record])
            run = 0
            for length in words[0::words_per]:
                if length != record:
                    break
                run += 1
            types = words[1 : run * words_per : words_per]
            if all((t & 0xFFFF) == _SOCK_DIAG_BY_FAMILY for t in types):
                inodes = words[words_per - 1 : run * words_per : words_per]
                if wanted is None:
                    offsets = list(range(0, run * record, record))
                else:
                    offsets = [i * record for i, ino in enumerate(inodes) if ino in wanted]
                off = run * record
        while off + 6 <= size:
            length, mtype = unpack(data, off)
            if length < _NLMSG.size or mtype != _SOCK_DIAG_BY_FAMILY:
                if offsets:
                    yield data, offsets
                return  # NLMSG_DONE, NLMSG_ERROR or garbage
            offsets.append(off)
            off += (length + 3) & ~3
        yield data, offsets


_NLMSG_HEAD = struct.Struct("=IH")
# nlmsghdr, unix_diag_msg, then the first attribute (the only one asked for: the peer)
_UNIX_ANSWER = struct.Struct("=I12x4xI8xHHI")


def unix_peers() -> dict[int, int]:
    """inode -> peer inode for every connected UNIX socket of the caller's namespace.

    Empty when sock_diag is unavailable (no module, no descriptor left, not Linux).
    """
    peers: dict[int, int] = {}
    try:
        sock = _socket.socket(
            _socket.AF_NETLINK, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG
        )
    except (OSError, AttributeError):
        return peers
    unpack = _UNIX_ANSWER.unpack_from
    full = _UNIX_ANSWER.size
    try:
        req = _UNIX_REQ.pack(
            _socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, _UDIAG_SHOW_PEER, 0xFFFFFFFF, 0xFFFFFFFF
        )
        for data, offsets in _messages(sock, req, 1):
            size = len(data)
            for off in offsets:
                if off + full > size:
                    break
                length, ino, _rlen, rtype, peer = unpack(data, off)
                if length >= full and rtype == _UNIX_DIAG_PEER:
                    peers[ino] = peer
    except OSError:
        return peers
    finally:
        sock.close()
    return peers


_INET_REQ = struct.Struct("=BBBBI48s")
_INET_MSG = struct.Struct("=BBBB2s2s16s16sIQIIIII")
_INET_DUMPS = (  # (family, protocol, kind, family name, type)
    (_socket.AF_INET, 6, "tcp", "inet", "stream"),
    (_socket.AF_INET6, 6, "tcp6", "inet6", "stream"),
    (_socket.AF_INET, 17, "udp", "inet", "dgram"),
    (_socket.AF_INET6, 17, "udp6", "inet6", "dgram"),
)


_TCP_OWNED_STATES = 0xFFFFFFFF & ~(1 << 6) & ~(1 << 12)  # not TIME_WAIT, NEW_SYN_RECV: no inode
_INET_RECORD = _NLMSG.size + _INET_MSG.size  # 88 bytes: every answer when no extension is asked
_INET_WORDS = _INET_RECORD // 4
_INODE_WORD = _INET_WORDS - 1


def inet_diag(wanted: set[int]) -> dict[int, tuple] | None:
    """Like :func:`inet_sockets`, through sock_diag (the caller's namespace; much faster
    than the text tables). None when sock_diag is not available here."""
    try:
        sock = _socket.socket(
            _socket.AF_NETLINK, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG
        )
    except (OSError, AttributeError):
        return None
    found: dict[int, tuple] = {}
    try:
        for seq, (family, proto, kind, fam_name, stype) in enumerate(_INET_DUMPS, 1):
            if len(found) == len(wanted):
                break
            states = _TCP_OWNED_STATES if proto == 6 else 0xFFFFFFFF
            req = _INET_REQ.pack(family, proto, 0, 0, states, bytes(48))
            what = (kind, fam_name, stype, family == _socket.AF_INET6, proto == 6)
            for data, offsets in _messages(sock, req, seq, _INET_RECORD, wanted):
                for off in offsets:
                    _inet_record(data, off, wanted, found, what)
    except OSError:
        return None
    finally:
        sock.close()
    return found


_PACKED_HOSTS: dict[bytes, str] = {}


def _host(addr: bytes, v6: bool) -> str:
    """Text of a sock_diag address (16 bytes; IPv4 in the first 4), cached."""
    key = addr if v6 else addr[:4]
    host = _PACKED_HOSTS.get(key)
    if host is None:
        host = f"[{format_ipv6(key)}]" if v6 else ".".join(map(str, key))
        if len(_PACKED_HOSTS) < 4096:
            _PACKED_HOSTS[key] = host
    return host


def _inet_record(
    data: bytes, off: int, wanted: set[int], found: dict[int, tuple], what: tuple
) -> None:
    """Decode one inet_diag answer at ``off`` into ``found`` if its inode is wanted."""
    inode = _U32.unpack_from(data, off + _INET_RECORD - 4)[0]
    if inode not in wanted or inode in found:
        return
    kind, fam_name, stype, v6, tcp = what
    (_f, st, _t, _r, sport, dport, src, dst, *_rest) = _INET_MSG.unpack_from(
        data, off + _NLMSG.size
    )
    rport = int.from_bytes(dport, "big")
    local = f"{_host(src, v6)}:{int.from_bytes(sport, 'big')}"
    if rport == 0 and not any(dst if v6 else dst[:4]):
        remote = None
    else:
        remote = f"{_host(dst, v6)}:{rport}"
    found[inode] = (kind, fam_name, stype, local, remote, TCP_STATES.get(st) if tcp else None)
