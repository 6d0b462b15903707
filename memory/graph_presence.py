"""Which scopes have a graph at all, so that a search there asks the graph server for the
relations its query names only when there can be some.

A scope's verdict is learnt with one cheap query (`GraphStore.has_relations`) and kept: a scope
with relations keeps them until it is deleted (a stale "yes" costs one look-up, no wrong answer);
a scope without any is forgotten the moment a relation is added inside it (this replica's events
and, through the fan-out, other replicas'), and at the latest after `ttl_s` (relations written
by an outbox drain or a replica without the fan-out)."""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Callable

from memory.events import EventKind, MemoryEvent
from memory.models import Scope
from memory.ports import GraphStore


class GraphPresence:
    def __init__(self, graph: GraphStore, *, ttl_s: float = 30.0, max_scopes: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._graph = graph
        self._ttl_s = ttl_s
        self._max = max_scopes
        self._clock = clock
        # scope key -> (scope, has relations, when a "no" expires); least recently asked first
        self._known: OrderedDict[str, tuple[Scope, bool, float]] = OrderedDict()
        self._asking: dict[str, asyncio.Future[bool]] = {}  # one look-up per scope at a time

    async def has_relations(self, scope: Scope) -> bool:
        key = scope.key()
        known = self._known.get(key)
        if known is not None and (known[1] or self._clock() < known[2]):
            self._known.move_to_end(key)
            return known[1]
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._graph.has_relations(scope))
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        found = await asyncio.shield(asking)
        self._known[key] = (scope, found, self._clock() + self._ttl_s)
        self._known.move_to_end(key)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return found

    def saw(self, event: MemoryEvent) -> None:
        """A relation added inside a scope believed empty makes that belief wrong."""
        if event.kind is not EventKind.RELATION_ADDED:
            return
        stale = [key for key, (scope, found, _) in self._known.items() if not found and scope.contains(event.scope)]
        for key in stale:
            del self._known[key]

    async def see(self, event: MemoryEvent) -> None:
        self.saw(event)
