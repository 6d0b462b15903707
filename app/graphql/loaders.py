"""Per-request DataLoaders: list fields resolve through these so that a page of N memories
costs one history look-up, one relation look-up... instead of N (no N+1)."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from strawberry.dataloader import DataLoader

from memory.models import Feedback, HistoryEntry, MemoryRecord, Relation, Scope
from memory.results import Neighbourhood

if TYPE_CHECKING:
    from memory.guarded import GuardedMemoryService as MemoryService

NeighbourKey = tuple[Scope, str, int, datetime | None]  # scope, entity, depth, as of


class Loaders:
    """One set per HTTP request. WebSocket contexts live as long as the connection, so there
    the loaders still batch but do not cache (each event must see fresh data)."""

    def __init__(self, service: MemoryService, *, cache: bool = True) -> None:
        self._service = service
        self.memory: DataLoader[str, MemoryRecord | None] = DataLoader(self._memories, cache=cache)
        self.history: DataLoader[str, list[HistoryEntry]] = DataLoader(self._history, cache=cache)
        self.feedback: DataLoader[str, Feedback | None] = DataLoader(self._feedback, cache=cache)
        self.memory_relations: DataLoader[str, list[Relation]] = DataLoader(
            self._memory_relations, cache=cache
        )
        self.neighbourhood: DataLoader[NeighbourKey, Neighbourhood] = DataLoader(
            self._neighbourhoods, cache=cache
        )

    async def _memories(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        found = await self._service.get_many(list(dict.fromkeys(ids)))
        return [found.get(i) for i in ids]

    async def _history(self, ids: Sequence[str]) -> list[list[HistoryEntry]]:
        found = await self._service.history_many(list(dict.fromkeys(ids)))
        return [found.get(i, []) for i in ids]

    async def _feedback(self, ids: Sequence[str]) -> list[Feedback | None]:
        found = await self._service.feedback(list(dict.fromkeys(ids)))
        return [found.get(i) for i in ids]

    async def _memory_relations(self, ids: Sequence[str]) -> list[list[Relation]]:
        found = await self._service.relations_by_memory(list(dict.fromkeys(ids)))
        return [found.get(i, []) for i in ids]

    async def _neighbourhoods(self, keys: Sequence[NeighbourKey]) -> list[Neighbourhood]:
        # the service has no multi-entity traversal: one per distinct (scope, entity, depth),
        # run concurrently, shared by Entity.relations and Entity.neighbours
        unique = list(dict.fromkeys(keys))
        answers = await asyncio.gather(
            *(self._service.neighbourhood(scope, name, depth, as_of) for scope, name, depth, as_of in unique)
        )
        found = dict(zip(unique, answers, strict=True))
        return [found[key] for key in keys]
