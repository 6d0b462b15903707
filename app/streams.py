"""Server-sent event streams, shared by GraphQL over SSE (/graphql/stream) and /v1/events: the
framing, the write loop with keep-alive comments, the per-principal cap on open subscriptions,
and the replay log of recent events (fed from the core's EventBus, local and foreign events)."""
from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from typing import AsyncIterator, Iterator, Protocol

from aiohttp import web

from app.keys import SERVICE_KEY, SETTINGS_KEY
from app.ops.runtime import RELOADER_KEY
from app.settings import Settings
from memory.access import Principal
from memory.errors import LimitExceeded
from memory.event_log import EventLog

KEEP_ALIVE = b": keep-alive\n\n"
# a vanished client is noticed at least this often even when nothing is written (aiohttp does
# not cancel handlers on disconnect unless told to)
DISCONNECT_POLL_S = 1.0
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold events back in its buffer
}


def frame(event: str | None, data: str, id: str | None = None) -> bytes:
    """One SSE message. `data` may span lines: each becomes its own `data:` line."""
    lines = [f"id: {id}"] if id is not None else []
    if event is not None:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" if line else "data:" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class Source(Protocol):
    def take(self) -> list[bytes] | None:
        """What to write now ([] for nothing yet); None once the stream is over."""
        ...

    async def wait(self, timeout: float) -> bool:
        """Until there may be something to take (True) or `timeout` passes (False)."""
        ...


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    await response.write(b": connected\n\n")  # sends the headers now: clients wait for them
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def pump(request: web.Request, response: web.StreamResponse, source: Source, keep_alive_s: float) -> None:
    """Writes what `source` gives until it ends or the client goes away, with a comment line
    after every `keep_alive_s` without a write (proxies and clients then know the stream is
    alive; wake-ups for events this stream does not carry do not count as writes)."""
    clock = asyncio.get_running_loop().time
    written = clock()
    with contextlib.suppress(ConnectionResetError):  # the client left: the caller cleans up
        while True:
            chunks = source.take()
            if chunks is None:
                return
            if chunks:
                await response.write(b"".join(chunks))
                written = clock()
                continue
            if _gone(request):
                return
            silent = clock() - written
            if silent >= keep_alive_s:
                await response.write(KEEP_ALIVE)
                written = clock()
                continue
            await source.wait(min(keep_alive_s - silent, DISCONNECT_POLL_S))


class Outbox:
    """Messages waiting for a stream's writer; producers wait while `limit` are pending, so a
    slow client slows its operations (whose event queues then drop the oldest, as on WebSocket)."""

    def __init__(self, limit: int = 256) -> None:
        self.closed = False
        self._items: deque[bytes] = deque()
        self._limit = limit
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def put(self, item: bytes) -> None:
        while len(self._items) >= self._limit and not self.closed:
            self._room.clear()
            await self._room.wait()
        if not self.closed:
            self._items.append(item)
            self._changed.set()

    def close(self) -> None:
        """No more messages: the writer ends once it has sent those pending."""
        self.closed = True
        self._changed.set()
        self._room.set()

    def take(self) -> list[bytes] | None:
        if not self._items:
            return None if self.closed else []
        out = list(self._items)
        self._items.clear()
        self._changed.clear()
        self._room.set()
        return out

    async def wait(self, timeout: float) -> bool:
        if self._items or self.closed:
            return True
        self._changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True


class SubscriptionSlots:
    """How many subscriptions (any transport) and event streams each principal holds open on
    this replica; more than `limit` are refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()

    def held(self, principal: Principal) -> int:
        return self._held[principal.id]

    @property
    def total(self) -> int:
        return sum(self._held.values())

    @contextlib.contextmanager
    def hold(self, principal: Principal) -> Iterator[None]:
        if self._held[principal.id] >= self.limit:
            raise LimitExceeded(
                f"this credential already holds {self.limit} open subscriptions or event streams "
                "(limits.subscriptions_per_principal): close one first"
            )
        self._held[principal.id] += 1
        try:
            yield
        finally:
            self._held[principal.id] -= 1
            if not self._held[principal.id]:
                del self._held[principal.id]


SLOTS_KEY = web.AppKey("subscription_slots", SubscriptionSlots)
EVENT_LOG_KEY = web.AppKey("event_log", EventLog)


async def _event_log(app: web.Application) -> AsyncIterator[None]:
    log = EventLog(app[SETTINGS_KEY].events.replay_buffer)
    bus = app[SERVICE_KEY].events
    bus.add_sink(log.sink)  # events made here
    bus.on_foreign(log.append)  # events from other replicas (Redis fan-out); lives as long as the bus
    app[EVENT_LOG_KEY] = log
    try:
        yield
    finally:
        bus.remove_sink(log.sink)


def install_streams(app: web.Application, settings: Settings) -> None:
    """After the service's cleanup context (the log listens to its bus)."""
    slots = app[SLOTS_KEY] = SubscriptionSlots(settings.limits.subscriptions_per_principal)
    reloader = app.get(RELOADER_KEY)
    if reloader is not None:
        def new_limit(new: Settings, old: Settings) -> None:
            slots.limit = new.limits.subscriptions_per_principal

        reloader.on_change("limits.subscriptions_per_principal", new_limit)
    app.cleanup_ctx.append(_event_log)
