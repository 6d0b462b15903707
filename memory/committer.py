"""Applying one change everywhere: SQL first (the source of truth), then the scope catalog, the
vector index and the graph side by side; then telling subscribers what changed."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from memory.concurrency import together
from memory.errors import StoreUnavailable
from memory.events import EventBus, EventKind, MemoryEvent
from memory.follower import SqlFollower
from memory.graph_writer import GraphWriter
from memory.index_keeper import IndexKeeper
from memory.models import GraphWork, Relation
from memory.ports import ChangeSet, MemoryRepository, VectorIndex
from memory.views import MemoryViews
from memory.webhooks import Delivery

# what a commit did in the graph: relations added, relations invalidated, and whether some of
# its graph work is still pending (the graph was slow or down; the outbox retries it)
GraphOutcome = tuple[list[Relation], list[Relation], bool]
# the webhook deliveries some events ask for (memory.webhooks.WebhookRegistry.plan)
DeliveryPlanner = Callable[[Sequence[MemoryEvent]], Awaitable[list[Delivery]]]


class Committer:
    def __init__(
        self,
        repo: MemoryRepository,
        index: VectorIndex,
        views: MemoryViews,
        keeper: IndexKeeper,
        follower: SqlFollower,
        graph_writer: GraphWriter | None,
        events: EventBus,
        graph_write_timeout_s: float,
    ) -> None:
        self._repo = repo
        self._index = index
        self._views = views
        self._keeper = keeper
        self._follower = follower
        self._graph_writer = graph_writer
        self._events = events
        self._graph_timeout_s = graph_write_timeout_s
        self.planner: DeliveryPlanner | None = None

    async def commit(self, change: ChangeSet, works: list[GraphWork], events: Sequence[MemoryEvent] = ()) -> GraphOutcome:
        """Commit to SQL, then bring the catalog, the index and the graph in line with it. The
        webhook deliveries `events` ask for are written in the same transaction."""
        if events and self.planner is not None:
            change.deliveries = await self.planner(events)
        async with self._keeper.writing():
            seq = await self._repo.commit(change)
            if change.history:
                self._follower.own(seq, [h.memory_id for h in change.history])
            self._views.apply([w.record for w in change.writes], change.deletes)
            # the vector write and the graph write run side by side
            async with together() as tg:
                if change.writes:
                    tg.create_task(self._index.upsert([(w.record.id, w.embedding) for w in change.writes]))
                if change.deletes:
                    tg.create_task(self._index.remove(change.deletes))
                graph = tg.create_task(self._await_graph(works))
        return graph.result()

    async def _await_graph(self, works: list[GraphWork]) -> GraphOutcome:
        if not works or self._graph_writer is None:
            return [], [], False
        futures = self._graph_writer.submit(works)
        added: list[Relation] = []
        invalid: list[Relation] = []
        try:
            async with asyncio.timeout(self._graph_timeout_s):
                for fut in futures:
                    res = await asyncio.shield(fut)
                    added += res.added
                    invalid += res.invalidated
        except (TimeoutError, StoreUnavailable):
            return added, invalid, True
        return added, invalid, False

    async def publish(self, events: Sequence[MemoryEvent], added: Sequence[Relation] = (),
                      invalid: Sequence[Relation] = ()) -> None:
        for ev in events:
            await self._events.publish(ev)
        for rel in added:
            await self._events.publish(MemoryEvent(EventKind.RELATION_ADDED, rel.scope, rel.memory_id, relation=rel))
        for rel in invalid:
            await self._events.publish(MemoryEvent(EventKind.RELATION_INVALIDATED, rel.scope, rel.memory_id,
                                                   relation=rel))
