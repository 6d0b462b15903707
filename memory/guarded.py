"""MemoryService as seen by one principal: same operations, with the access rule applied.

The edges only ever hand this object to their handlers, so no resolver can skip the check."""
from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, AsyncIterator, Mapping, Sequence

from memory.access import Principal
from memory.batch import MemoryEdit
from memory.categories import Category
from memory.expiry import KEEP, Keep
from memory.errors import Forbidden, NotFound, StoreUnavailable
from memory.event_log import EventLog, LogReader
from memory.events import EventKind, MemoryEvent
from memory.filters import Filter
from memory.exports import Exporter
from memory.models import Entity, ExportJob, Feedback, FeedbackRating, GraphQuery, HistoryEntry, MemoryRecord, Message, Relation, Scope
from memory.ports import Order
from memory.project import UNSET, ProjectSettings
from memory.ranking import SearchMode
from memory.pagination import Page
from memory.results import AddResult, Neighbourhood, Owner, SearchResult
from memory.service import MemoryService, ServiceOptions


class GuardedMemoryService:
    def __init__(self, service: MemoryService, principal: Principal) -> None:
        self._svc = service
        self.principal = principal

    @property
    def options(self) -> ServiceOptions:
        return self._svc.options

    def _scope(self, scope: Scope | None) -> Scope:
        narrowed = self.principal.narrow(scope)
        assert narrowed is not None or self.principal.is_admin
        return (narrowed or Scope()).require()

    def _read_scope(self, scope: Scope | None) -> Scope | None:
        return self.principal.narrow(scope)

    async def _visible(self, id: str) -> MemoryRecord:
        rec = await self._svc.get(id)
        if not self.principal.may_see(rec.scope):
            raise NotFound(f"memory {id!r} does not exist")
        return rec

    def _admin(self, what: str) -> None:
        if not self.principal.is_admin:
            raise Forbidden(f"only an admin may {what}")

    # writing
    async def add(self, messages: Sequence[Message], scope: Scope, *, metadata: Mapping[str, Any] | None = None,
                  infer: bool = True, prompt: str | None = None, occurred_at: datetime | None = None,
                  immutable: bool = False, includes: str | None = None, excludes: str | None = None,
                  expires_at: datetime | None = None, categories: Sequence[str] | None = None,
                  custom_categories: Sequence[Category] | None = None) -> AddResult:
        return await self._svc.add(messages, self._scope(scope), metadata=metadata, infer=infer, prompt=prompt,
                                   actor=self.principal.id, occurred_at=occurred_at, immutable=immutable,
                                   includes=includes, excludes=excludes, expires_at=expires_at,
                                   categories=categories, custom_categories=custom_categories)

    async def update(self, id: str, *, text: str | None = None, metadata: Mapping[str, Any] | None = None,
                     expires_at: datetime | None | Keep = KEEP, categories: Sequence[str] | None = None) -> MemoryRecord:
        await self._visible(id)
        return await self._svc.update(id, text=text, metadata=metadata, actor=self.principal.id,
                                      expires_at=expires_at, categories=categories)

    async def update_many(self, edits: Sequence[MemoryEdit]) -> list[MemoryRecord]:
        # memories the principal may not see are refused item by item, as missing ones are
        return await self._svc.update_many(edits, actor=self.principal.id, may_see=self.principal.may_see)

    async def delete_many(self, ids: Sequence[str]) -> list[MemoryRecord]:
        return await self._svc.delete_many(ids, actor=self.principal.id, may_see=self.principal.may_see)

    async def delete(self, id: str, *, purge: bool = False) -> MemoryRecord:
        await self._visible(id)
        return await self._svc.delete(id, actor=self.principal.id, purge=purge)

    async def delete_all(self, scope: Scope, *, purge: bool = False) -> int:
        return await self._svc.delete_all(self._scope(scope), actor=self.principal.id, purge=purge)

    async def give_feedback(self, id: str, rating: FeedbackRating | None, reason: str | None = None) -> Feedback | None:
        await self._visible(id)
        return await self._svc.give_feedback(id, rating, reason, actor=self.principal.id)

    async def feedback(self, ids: Sequence[str]) -> dict[str, Feedback]:
        visible = await self.get_many(ids)
        return await self._svc.feedback([id for id in ids if id in visible])

    async def project_settings(self) -> ProjectSettings:
        self._admin("read the project settings")
        return await self._svc.project_settings()

    async def update_project_settings(self, *, custom_categories: Any = UNSET,
                                      custom_instructions: Any = UNSET) -> ProjectSettings:
        self._admin("change the project settings")
        return await self._svc.update_project_settings(custom_categories=custom_categories,
                                                       custom_instructions=custom_instructions)

    async def reset(self) -> None:
        self._admin("reset every memory")
        await self._svc.reset()

    # reading
    async def get(self, id: str) -> MemoryRecord:
        return await self._visible(id)

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        found = await self._svc.get_many(ids)
        return {id: r for id, r in found.items() if self.principal.may_see(r.scope)}

    async def search(self, query: str, scope: Scope, *, filters: Filter | None = None, limit: int = 10,
                     threshold: float | None = None, include_invalidated: bool = False,
                     mode: SearchMode = SearchMode.HYBRID, as_of: datetime | None = None,
                     context: int = 0, rerank: bool | None = None, with_relations: bool = True) -> SearchResult:
        # context memories share each hit's owner, which lies inside the (guarded) search scope
        return await self._svc.search(query, self._scope(scope), filters=filters, limit=limit, threshold=threshold,
                                      include_invalidated=include_invalidated, mode=mode, as_of=as_of,
                                      context=context, rerank=rerank, with_relations=with_relations)

    async def list_memories(self, scope: Scope | None, *, filters: Filter | None = None, first: int = 20, after: str | None = None,
                   order: Order = Order.CREATED_DESC, include_invalidated: bool = False) -> Page[MemoryRecord]:
        return await self._svc.list_memories(self._read_scope(scope), filters=filters, first=first, after=after, order=order,
                                    include_invalidated=include_invalidated)

    async def owners(self, scope: Scope | None = None) -> list[Owner]:
        return await self._svc.owners(self._read_scope(scope))

    async def history(self, id: str) -> list[HistoryEntry]:
        entries = await self._svc.history(id)
        if not self.principal.may_see(entries[0].scope):
            raise NotFound(f"memory {id!r} has no history (it never existed)")
        return entries

    async def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        found = await self._svc.history_many(ids)
        return {id: [e for e in entries if self.principal.may_see(e.scope)] for id, entries in found.items()}

    async def counts(self) -> dict[str, int]:
        self._admin("read service-wide counts")
        return await self._svc.counts()

    # exports
    def _exporter(self) -> Exporter:
        if self._svc.exports is None:
            raise StoreUnavailable("exports", "this server runs without an export store", disclose=True)
        return self._svc.exports

    async def create_export(self, scope: Scope | None, *, filters: Filter | None = None,
                            schema: Any = None) -> ExportJob:
        """Export the memories of `scope` (narrowed to what this principal may see; None: all of them)."""
        return await self._exporter().create(self._read_scope(scope) or Scope(), filters, schema, self.principal.id)

    async def export(self, id: str) -> ExportJob:
        job = await self._exporter().get(id)
        if not self.principal.may_see(job.scope):
            raise NotFound(f"export {id!r} does not exist")
        return job

    async def latest_export(self, scope: Scope | None) -> ExportJob:
        return await self._exporter().latest(self._read_scope(scope) or Scope())

    # graph
    async def entities(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> Page[Entity]:
        return await self._svc.entities(self._read_scope(scope), query, first, after)

    async def relations(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> Page[Relation]:
        return await self._svc.relations(self._read_scope(scope), query, first, after)

    async def neighbourhood(self, scope: Scope, name: str, depth: int, as_of: datetime | None = None) -> Neighbourhood:
        return await self._svc.neighbourhood(self._scope(scope), name, depth, as_of)

    async def relations_by_memory(self, ids: Sequence[str]) -> dict[str, list[Relation]]:
        found = await self._svc.relations_by_memory(ids)
        return {id: [r for r in rels if self.principal.may_see(r.scope)] for id, rels in found.items()}

    async def add_relation(self, scope: Scope, source: str, relation: str, destination: str) -> AddResult:
        return await self._svc.add_relation(self._scope(scope), source, relation, destination, actor=self.principal.id)

    async def invalidate_relation(self, scope: Scope, source: str, relation: str, destination: str) -> list[Relation]:
        return await self._svc.invalidate_relation(self._scope(scope), source, relation, destination,
                                                   actor=self.principal.id)

    # events
    def follow(self, log: EventLog, scope: Scope | None, kinds: frozenset[EventKind] | None = None,
               after: str | None = None) -> LogReader:
        """Logged events in `scope` (narrowed to what this principal may see), after `after`."""
        return log.reader(self._read_scope(scope), kinds, after)

    @contextlib.asynccontextmanager
    async def subscribe(self, scope: Scope | None, kinds: frozenset[EventKind] | None = None
                        ) -> AsyncIterator[AsyncIterator[MemoryEvent]]:
        async with self._svc.events.subscribe(self._read_scope(scope), kinds) as stream:
            yield stream
