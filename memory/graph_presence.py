"""Which scopes have a graph at all, so that a search there asks the graph server for the
relations its query names only when there can be some.

A scope's verdict is learnt with one cheap query (`GraphStore.has_relations`) and kept: a scope
with relations keeps them until it is deleted (a stale "yes" costs one look-up, no wrong answer);
a scope without any is forgotten the moment a relation is added inside it (this replica's events
and, through the fan-out, other replicas'), and at the latest after `ttl_s` (relations written
by an outbox drain or a replica without the fan-out).

The whole graph has a verdict of its own, asked first: a store that keeps no relations at all
(every add `infer: false`, or no extraction) then answers every scope without a round trip. Only
the first search after the start waits for it; later ones find it renewed in the background
before it lapses (a look-up cost ~2-7 ms on the graph server beside a busy model, more than the
query's own embedding)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Callable

from memory.concurrency import SharedCalls
from memory.errors import StoreUnavailable
from memory.events import EventKind, MemoryEvent
from memory.models import Scope
from memory.ports import GraphStore

log = logging.getLogger(__name__)

WHOLE_GRAPH = Scope()
_WHOLE_KEY = WHOLE_GRAPH.key()


class GraphPresence:
    def __init__(self, graph: GraphStore, *, ttl_s: float = 30.0, max_scopes: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._graph = graph
        self._ttl_s = ttl_s
        self._max = max_scopes
        self._clock = clock
        # scope key -> (scope, has relations, when a "no" expires); least recently asked first
        self._known: OrderedDict[str, tuple[Scope, bool, float]] = OrderedDict()
        self._asking: SharedCalls[str, bool] = SharedCalls("graph-presence")  # one look-up per scope at a time
        # the whole graph's verdict and until when it holds (a "yes" too: a graph emptied by a
        # reset returns to answering without round trips)
        self._anywhere: tuple[bool, float] | None = None
        self._seen = 0  # relations seen added: a whole-graph "no" asked before one is stale

    async def has_relations(self, scope: Scope) -> bool:
        key = scope.key()
        if key == _WHOLE_KEY:
            return await self._anywhere_now()
        known = self._known.get(key)
        if known is not None and (known[1] or self._clock() < known[2]):
            self._known.move_to_end(key)
            return known[1]
        if not await self._anywhere_now():
            return False
        found = await asyncio.shield(self._ask(scope))
        self._known[key] = (scope, found, self._clock() + self._ttl_s)
        self._known.move_to_end(key)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return found

    async def _anywhere_now(self) -> bool:
        """Whether the graph holds any relation: the kept verdict while it holds (renewed in the
        background in its last third), else asked now."""
        verdict, now = self._anywhere, self._clock()
        if verdict is not None and now < verdict[1]:
            if verdict[1] - now < self._ttl_s / 3:
                self._ask_anywhere().add_done_callback(_quietly)
            return verdict[0]
        return await asyncio.shield(self._ask_anywhere())

    def _ask_anywhere(self) -> asyncio.Future[bool]:
        if (asking := self._asking.running(_WHOLE_KEY)) is not None:
            return asking
        seen = self._seen

        def keep(done: asyncio.Future[bool]) -> None:
            if not done.cancelled() and done.exception() is None and self._seen == seen:
                self._anywhere = (done.result(), self._clock() + self._ttl_s)

        asking = self._ask(WHOLE_GRAPH)
        asking.add_done_callback(keep)
        return asking

    def _ask(self, scope: Scope) -> asyncio.Future[bool]:
        """The look-up in flight for `scope`, or a new one (shared: await it shielded)."""
        return self._asking.start(scope.key(), lambda: self._graph.has_relations(scope))

    def saw(self, event: MemoryEvent) -> None:
        """A relation added inside a scope believed empty makes that belief wrong."""
        if event.kind is not EventKind.RELATION_ADDED:
            return
        self._seen += 1
        if self._anywhere is not None and not self._anywhere[0]:
            self._anywhere = None
        stale = [key for key, (scope, found, _) in self._known.items() if not found and scope.contains(event.scope)]
        for key in stale:
            del self._known[key]

    async def see(self, event: MemoryEvent) -> None:
        self.saw(event)


def _quietly(done: asyncio.Future[bool]) -> None:
    """A background renewal's failure: the verdict lapses and the next search asks (and meets
    the failure) itself."""
    error = None if done.cancelled() else done.exception()
    if isinstance(error, StoreUnavailable):
        log.debug("renewing the graph's relations verdict failed: %s", error)
    elif error is not None:
        log.warning("renewing the graph's relations verdict failed", exc_info=error)
