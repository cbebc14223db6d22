"""`isles up` and `isles serve` run on uvloop with httptools' HTTP parser."""

from __future__ import annotations

import asyncio

from isles.http.serving import http_protocol, run


def test_servers_run_on_uvloop_with_httptools() -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run(loop_module()).startswith("uvloop")
    assert http_protocol() == "httptools"
