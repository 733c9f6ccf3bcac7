"""Descriptors made inside asyncio tasks that library code started on the user's behalf."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from origins_helpers import groups_at, line_of

from fdscope import origins

HERE = __file__


def test_socket_made_in_a_gathered_library_task_names_the_users_gather_line(
    tracking: None,
) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    async def main() -> Any:
        # open_connection runs in a task gather made: no user frame when the socket is made
        return await asyncio.gather(asyncio.open_connection("127.0.0.1", port))  # gathered

    loop = asyncio.new_event_loop()
    try:
        [(_reader, writer)] = loop.run_until_complete(main())
        report = origins.report()
        found = groups_at(report, HERE, line_of(HERE, "gathered"))
        assert [g.kind for g in found] == ["tcp"], [(g.site, g.kind) for g in report.groups]
        assert not found[0].site.approximate
        writer.close()
    finally:
        loop.close()
        server.close()


def test_a_task_started_inside_a_task_inherits_the_users_line(tracking: None) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    async def connect() -> Any:
        # a task started from library code (ensure_future inside gather's task) inherits
        return await asyncio.ensure_future(asyncio.open_connection("127.0.0.1", port))  # inner

    async def main() -> Any:
        return await asyncio.gather(asyncio.wait_for(connect(), 5))  # nested

    loop = asyncio.new_event_loop()
    try:
        [(_reader, writer)] = loop.run_until_complete(main())
        report = origins.report()
        sites = {(g.site.file, g.site.line) for g in report.groups if g.kind == "tcp"}
        # the socket is made in the task ensure_future started, inside the user's connect()
        assert (HERE, line_of(HERE, "inner")) in sites, sites
        assert (HERE, line_of(HERE, "nested")) not in sites
        writer.close()
    finally:
        loop.close()
        server.close()
