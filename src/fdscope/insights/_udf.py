"""Python functions DuckDB calls for what its SQL does not spell (standard library only).

Each takes and returns plain values; bad input gives None (absent), never an error.
"""

from __future__ import annotations

import base64
import csv
import ipaddress
import json
import urllib.parse
from typing import Any

from fdscope._extras import extra


def ip_num(text: str | None) -> int | None:
    """ipv4ToNumber: the address as a number."""
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    return int(ip) if ip.version == 4 else None


def ip_kind(text: str | None, kind: str | None) -> bool | None:
    """isPrivateIP (RFC 1918 ranges), isPublicIP (globally routable), isReservedIP."""
    if text is None:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    if kind == "private":
        nets = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
        return ip.version == 4 and any(ip in ipaddress.ip_network(n) for n in nets)
    if kind == "public":
        return ip.is_global
    return bool(
        ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified
    )


def text_fn(text: str | None, fn: str | None) -> str | None:
    """urldecode, base64decode, hexToAscii, hexToDec (as text)."""
    if text is None:
        return None
    try:
        if fn == "urldecode":
            return urllib.parse.unquote(text)
        if fn == "base64decode":
            return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
        if fn == "hextoascii":
            h = text.strip()
            h = h[2:] if h.lower().startswith("0x") else h
            return bytes.fromhex(h).decode("latin-1")
        if fn == "hextodec":
            return str(int(text.strip(), 16))
    except (ValueError, TypeError):
        return None
    return None


def logfmt(text: str | None) -> str | None:
    """parse logfmt: ``key=value`` pairs (values may be "quoted") as a JSON object of text."""
    if not text:
        return None
    out: dict[str, Any] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        j = i
        while j < n and not text[j].isspace() and text[j] != "=":
            j += 1
        key = text[i:j]
        if not key:
            i = j + 1
            continue
        if j < n and text[j] == "=":
            j += 1
            if j < n and text[j] == '"':
                k, val = j + 1, []
                while k < n and text[k] != '"':
                    if text[k] == "\\" and k + 1 < n:
                        k += 1
                    val.append(text[k])
                    k += 1
                value, i = "".join(val), k + 1
            else:
                k = j
                while k < n and not text[k].isspace():
                    k += 1
                value, i = text[j:k], k
        else:  # a bare key is a flag
            value, i = "true", j
        out[key] = value
    return json.dumps(out) if out else None


def csv_values(text: str | None) -> list[str] | None:
    """parse csv: the comma-separated values of one line (RFC 4180 quotes)."""
    if text is None:
        return None
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def cidr_prefix(text: str | None, cidr: str | None) -> int | None:
    """cidrlookup: the prefix length of ``cidr`` when the address ``text`` is inside it."""
    if text is None or cidr is None:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    return net.prefixlen if ip.version == net.version and ip in net else None


def _num_text(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(float(x))


def histogram(values: list[float | None] | None, buckets: float | None) -> str | None:
    """histogram(f, n): the values counted in n equal-width ranges from the smallest to the
    largest, as a JSON map ``{"lo-hi": count}`` (every range but the last excludes its top)."""
    xs = [x for x in values or [] if x is not None and x == x and abs(x) != float("inf")]
    if not xs or buckets is None or not 1 <= buckets <= 1000:
        return None
    n = int(buckets)
    lo, hi = min(xs), max(xs)
    width = (hi - lo) / n
    counts = [0] * n
    for x in xs:
        k = n - 1 if width == 0 else min(int((x - lo) / width), n - 1)
        counts[k] += 1
    edges = [lo + width * k for k in range(n)] + [hi]
    return json.dumps(
        {f"{_num_text(edges[k])}-{_num_text(edges[k + 1])}": counts[k] for k in range(n)}
    )


# name, function, parameter types, result type (DuckDB type names)
UDFS = (
    ("_fd_ip_num", ip_num, ["VARCHAR"], "BIGINT"),
    ("_fd_ip_kind", ip_kind, ["VARCHAR", "VARCHAR"], "BOOLEAN"),
    ("_fd_text_fn", text_fn, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    ("_fd_logfmt", logfmt, ["VARCHAR"], "VARCHAR"),
    ("_fd_csv", csv_values, ["VARCHAR"], "VARCHAR[]"),
    ("_fd_cidr_prefix", cidr_prefix, ["VARCHAR", "VARCHAR"], "INTEGER"),
    ("_fd_histogram", histogram, ["DOUBLE[]", "DOUBLE"], "VARCHAR"),
)


def register(con: Any) -> None:
    """Create the functions on a DuckDB connection."""
    with extra("query", "running a query on local logs"):
        from duckdb import sqltype

    for name, fn, params, result in UDFS:
        con.create_function(
            name, fn, [sqltype(p) for p in params], sqltype(result), null_handling="special"
        )
