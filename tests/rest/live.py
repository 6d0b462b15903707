"""A real AgentMem listening on 127.0.0.1, served from a thread with its own event loop, for
clients that block (mem0's MemoryClient in a subprocess, schemathesis' requests session)."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from app.settings import Settings
from app.web import create_app

T = TypeVar("T")


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: web.Application
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Runs `coro` on the server's loop (e.g. to create API keys) and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def live_server(settings: Settings, start_timeout: float = 120) -> Iterator[LiveServer]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(settings), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = runner.addresses[0][1]
        state["app"] = runner.app
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner = loop.run_until_complete(start())
        except BaseException as exc:  # reported to the test thread below
            state["error"] = exc
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    thread = threading.Thread(target=serve, name="agentmem-live", daemon=True)
    thread.start()
    if not ready.wait(start_timeout):
        raise TimeoutError("the live server did not start")
    if "error" in state:
        raise state["error"]
    try:
        yield LiveServer(f"http://127.0.0.1:{state['port']}", state["app"], loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(60)
