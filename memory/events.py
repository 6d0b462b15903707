"""In-process event bus: every change the core makes is published here.

Subscribers get a bounded queue each; a slow subscriber loses its oldest events rather than
stalling writers, and the loss is counted (`dropped`). Sinks (e.g. a Redis bridge) see every
locally produced event; events received from other replicas are published with `local=False`
so they are not forwarded again."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import AsyncIterator, Awaitable, Callable

from memory.models import MemoryRecord, Relation, Scope, utcnow


class EventKind(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    INVALIDATE = "INVALIDATE"
    RESET = "RESET"
    RELATION_ADDED = "RELATION_ADDED"
    RELATION_INVALIDATED = "RELATION_INVALIDATED"


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    kind: EventKind
    scope: Scope
    memory_id: str | None = None
    memory: MemoryRecord | None = None
    previous_text: str | None = None
    relation: Relation | None = None
    at: datetime = field(default_factory=utcnow)
    origin: str | None = None  # replica id that produced it


Sink = Callable[[MemoryEvent], Awaitable[None]]


def matches(event: MemoryEvent, scope: Scope | None, kinds: frozenset[EventKind] | None) -> bool:
    """Whether a subscriber of `scope` (None: everything) and `kinds` (None: all) gets `event`.
    RESET concerns everyone."""
    if kinds is not None and event.kind not in kinds:
        return False
    if event.kind is EventKind.RESET:
        return True
    return scope is None or scope.contains(event.scope)


class _Subscription:
    def __init__(self, scope: Scope | None, kinds: frozenset[EventKind] | None, size: int) -> None:
        self.scope = scope
        self.kinds = kinds
        self.queue: asyncio.Queue[MemoryEvent] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def wants(self, event: MemoryEvent) -> bool:
        return matches(event, self.scope, self.kinds)

    def offer(self, event: MemoryEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subs: set[_Subscription] = set()
        self._sinks: list[Sink] = []
        self._foreign: list[Callable[[MemoryEvent], None]] = []
        self._queue_size = queue_size

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        self._sinks.remove(sink)

    def on_foreign(self, listener: Callable[[MemoryEvent], None]) -> None:
        """Call `listener` for every event another replica made (published with local=False)."""
        self._foreign.append(listener)

    async def publish(self, event: MemoryEvent, *, local: bool = True) -> None:
        for sub in list(self._subs):
            if sub.wants(event):
                sub.offer(event)
        if local:
            for sink in list(self._sinks):
                await sink(event)
        else:
            for listener in self._foreign:
                listener(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, scope: Scope | None = None, kinds: frozenset[EventKind] | None = None
    ) -> AsyncIterator[AsyncIterator[MemoryEvent]]:
        """`async with bus.subscribe(scope) as events: async for e in events: ...`"""
        sub = _Subscription(scope, kinds, self._queue_size)
        self._subs.add(sub)

        async def stream() -> AsyncIterator[MemoryEvent]:
            while True:
                yield await sub.queue.get()

        try:
            yield stream()
        finally:
            self._subs.discard(sub)
