"""The real app on a real port, in a thread of its own: for suites that share one running
server across many tests (the embedded graph server takes seconds to start) and for
hypothesis, whose tests are synchronous."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Coroutine, TypeVar

from aiohttp import web

from app.settings import Settings
from app.web import create_app

T = TypeVar("T")
START_TIMEOUT = 120


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: web.Application | None = None
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> LiveServer:
        self._thread.start()
        self.call(self._start(), timeout=START_TIMEOUT)
        return self

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Runs a coroutine on the server's loop (to reach the app's objects) and waits for it."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self._loop)
        return future.result(timeout)

    def stop(self) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup(), timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self.app = create_app(self.settings)
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
