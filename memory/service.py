"""MemoryService: the core's public operations (remember, recall, forget), all async and scoped."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

from memory.catalog import ScopeCatalog
from memory.entities import EntityResolver, relation_type
from memory.errors import InvalidInput, NotFound, StoreUnavailable
from memory.events import EventBus, EventKind, MemoryEvent
from memory.extraction import normalise_name
from memory.filters import Filter, matches
from memory.graph_writer import GraphWriter
from memory.index_keeper import IndexKeeper
from memory.ingest import Decided, Ingestor, graph_work, new_record
from memory.models import (
    ChangeEvent,
    Entity,
    GraphQuery,
    GraphWork,
    HistoryEntry,
    MemoryRecord,
    Message,
    Relation,
    Scope,
    StoredMemory,
    Triple,
    text_hash,
    utcnow,
)
from memory.pagination import decode_cursor, encode_cursor
from memory.ports import LLM, ChangeSet, Embedder, GraphStore, MemoryRepository, Order, PageCursor, VectorIndex
from memory.results import AddResult, MemoryChange, MemoryPage, Neighbourhood, SearchHit, SearchResult

log = logging.getLogger(__name__)

MAX_TEXT = 32_000
_WORD = re.compile(r"[\w'’-]+")


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    dedup_threshold: float = 0.95
    similar_memories: int = 5
    max_limit: int = 100
    exclusive_relations: frozenset[str] = frozenset({"LIVES_IN", "WORKS_AT", "IS_MARRIED_TO", "IS_NAMED"})
    graph_write_timeout_s: float = 5.0
    entity_match_threshold: float = 0.9
    graph_drain_interval_s: float = 2.0
    graph_max_backoff_s: float = 30.0


def _check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata must be a JSON object")
    try:
        encoded = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata must be plain JSON: {exc}") from None
    if len(encoded) > 64_000:
        raise InvalidInput("metadata is larger than 64 kB")
    return json.loads(encoded)


def _check_text(text: str, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} is longer than {MAX_TEXT} characters")
    return text.strip()


class MemoryService:
    def __init__(
        self,
        repo: MemoryRepository,
        index: VectorIndex,
        embedder: Embedder,
        *,
        graph: GraphStore | None = None,
        llm: LLM | None = None,
        events: EventBus | None = None,
        options: ServiceOptions = ServiceOptions(),
        index_save_interval_s: float = 30.0,
    ) -> None:
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._graph = graph
        self._llm = llm
        self.events = events or EventBus()
        self.options = options
        self._catalog = ScopeCatalog()
        self.keeper = IndexKeeper(index, repo, index_save_interval_s)
        self.writer = (
            GraphWriter(graph, repo, drain_interval_s=options.graph_drain_interval_s,
                        max_backoff_s=options.graph_max_backoff_s)
            if graph is not None else None
        )
        self._entities = EntityResolver(graph, embedder, options.entity_match_threshold)
        self._ingest = Ingestor(
            embedder, index, self._catalog, repo, llm,
            dedup_threshold=options.dedup_threshold, similar_memories=options.similar_memories,
        )

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Reconcile the vector index with SQL and start the background writers."""
        self._catalog.load(await self._repo.catalog())
        await self.keeper.reconcile()
        self.keeper.start()
        if self.writer is not None:
            self.writer.start()

    async def stop(self) -> None:
        if self.writer is not None:
            await self.writer.stop()
        await self.keeper.stop()

    @property
    def graph_enabled(self) -> bool:
        return self._graph is not None

    # writing -------------------------------------------------------------------------------
    async def add(
        self,
        messages: Sequence[Message],
        scope: Scope,
        *,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        prompt: str | None = None,
        actor: str | None = None,
    ) -> AddResult:
        scope.require()
        meta = _check_metadata(metadata)
        if not messages:
            raise InvalidInput("messages must not be empty")
        for i, m in enumerate(messages):
            _check_text(m.content, f"messages[{i}].content")
            if not isinstance(m.role, str) or not m.role.strip():
                raise InvalidInput(f"messages[{i}].role must be a non-empty string")
        messages = [Message(m.role.strip().lower(), m.content.strip()) for m in messages]
        decided = await self._ingest.decide(messages, scope, infer, prompt)
        return await self._apply(decided, scope, meta, actor)

    async def _apply(self, d: Decided, scope: Scope, meta: dict[str, Any], actor: str | None) -> AddResult:
        now = utcnow()
        change = ChangeSet()
        results: list[MemoryChange] = []
        events: list[MemoryEvent] = []
        upserts = []
        fact_triples: list[tuple[str, tuple[Triple, ...]]] = []
        for cand, vec in d.adds:
            rec = new_record(cand.text, scope, meta, cand.role)
            change.writes.append(StoredMemory(rec, vec))
            change.history.append(HistoryEntry(rec.id, ChangeEvent.ADD, None, rec.text, scope, now, actor, cand.role))
            results.append(MemoryChange(rec.id, rec.text, ChangeEvent.ADD, None, rec))
            events.append(MemoryEvent(EventKind.ADD, scope, rec.id, rec))
            upserts.append((rec.id, vec, rec))
            if cand.triples:
                fact_triples.append((rec.id, cand.triples))
        for old, text, vec in d.updates:
            rec = replace(old, text=text, hash=text_hash(text), updated_at=now)
            change.writes.append(StoredMemory(rec, vec))
            change.history.append(HistoryEntry(rec.id, ChangeEvent.UPDATE, old.text, text, rec.scope, now, actor))
            results.append(MemoryChange(rec.id, text, ChangeEvent.UPDATE, old.text, rec))
            events.append(MemoryEvent(EventKind.UPDATE, rec.scope, rec.id, rec, old.text))
            upserts.append((rec.id, vec, rec))
        invalidated_ids = []
        for old, reason in d.invalidations:
            rec = replace(old, invalidated_at=now, invalidation_reason=reason, updated_at=now)
            vec = (await self._repo.embeddings([old.id]))[old.id]
            change.writes.append(StoredMemory(rec, vec))
            change.history.append(
                HistoryEntry(rec.id, ChangeEvent.INVALIDATE, old.text, old.text, rec.scope, now, actor, reason=reason)
            )
            results.append(MemoryChange(rec.id, rec.text, ChangeEvent.DELETE, old.text, rec))
            events.append(MemoryEvent(EventKind.INVALIDATE, rec.scope, rec.id, rec, old.text))
            self._catalog.put(rec.id, rec.scope, False)
            invalidated_ids.append(rec.id)
        for old, triples in d.unchanged:
            results.append(MemoryChange(old.id, old.text, ChangeEvent.NONE, None, old))
            if triples:
                fact_triples.append((old.id, triples))
        works = await self._graph_works(scope, fact_triples, d.loose_triples)
        change.graph_work.extend(works)
        graph_result = await self._commit_and_index(change, upserts, works)
        added, invalid, pending = graph_result
        if invalidated_ids and self._graph is not None:
            with contextlib.suppress(Exception):
                invalid += await self._graph.delete_memory_relations(invalidated_ids, now)
        await self._publish(events, added, invalid)
        return AddResult(results, added, invalid, pending, d.stored_raw)

    async def _graph_works(
        self, scope: Scope, per_memory: list[tuple[str, tuple[Triple, ...]]], loose: list[Triple]
    ) -> list[GraphWork]:
        if self._graph is None or not (per_memory or loose):
            return []
        groups = [*per_memory, (None, tuple(loose))]
        tagged: list[tuple[int, Triple]] = []
        for g, (_, triples) in enumerate(groups):
            for t in triples:
                if not (normalise_name(t.source) and normalise_name(t.destination)):
                    continue
                try:
                    tagged.append((g, replace(t, relation=relation_type(t.relation))))
                except InvalidInput as exc:  # an unusable relation name from the extractor
                    log.info("skipping relation %r: %s", t.relation, exc)
        if not tagged:
            return []
        canon, embeddings = await self._entities.resolve(scope, [t for _, t in tagged])
        works = []
        for g, (memory_id, _) in enumerate(groups):
            triples = [c for (tg, _), c in zip(tagged, canon) if tg == g]
            if triples:
                works.append(graph_work(scope, triples, memory_id, embeddings, self.options.exclusive_relations))
        return works

    async def _commit_and_index(
        self, change: ChangeSet, upserts: list, works: list[GraphWork]
    ) -> tuple[list[Relation], list[Relation], bool]:
        async with self.keeper.writing():
            await self._repo.commit(change)
            for id in change.deletes:
                self._catalog.drop(id)
            for id, _vec, rec in upserts:
                self._catalog.put(id, rec.scope, rec.valid)
            # the vector write and the graph write run side by side
            async with asyncio.TaskGroup() as tg:
                if upserts:
                    tg.create_task(self._index.upsert([(id, vec) for id, vec, _ in upserts]))
                if change.deletes:
                    tg.create_task(self._index.remove(change.deletes))
                graph = tg.create_task(self._await_graph(works))
        return graph.result()

    async def _await_graph(self, works: list[GraphWork]) -> tuple[list[Relation], list[Relation], bool]:
        if not works or self.writer is None:
            return [], [], False
        futures = self.writer.submit(works)
        added: list[Relation] = []
        invalid: list[Relation] = []
        try:
            async with asyncio.timeout(self.options.graph_write_timeout_s):
                for fut in futures:
                    res = await asyncio.shield(fut)
                    added += res.added
                    invalid += res.invalidated
        except (TimeoutError, StoreUnavailable):
            return added, invalid, True
        return added, invalid, False

    async def _publish(self, events: list[MemoryEvent], added: Sequence[Relation], invalid: Sequence[Relation]) -> None:
        for ev in events:
            await self.events.publish(ev)
        for rel in added:
            await self.events.publish(MemoryEvent(EventKind.RELATION_ADDED, rel.scope, rel.memory_id, relation=rel))
        for rel in invalid:
            await self.events.publish(MemoryEvent(EventKind.RELATION_INVALIDATED, rel.scope, rel.memory_id, relation=rel))

    async def update(
        self, id: str, *, text: str | None = None, metadata: Mapping[str, Any] | None = None, actor: str | None = None
    ) -> MemoryRecord:
        if text is None and metadata is None:
            raise InvalidInput("give text and/or metadata to update")
        old = await self.get(id)
        now = utcnow()
        rec = old
        if metadata is not None:
            rec = replace(rec, metadata=_check_metadata(metadata))
        if text is not None:
            text = _check_text(text)
            rec = replace(rec, text=text, hash=text_hash(text))
            vec = (await self._embedder.embed([text]))[0]
        else:
            vec = (await self._repo.embeddings([id]))[id]
        rec = replace(rec, updated_at=now)
        change = ChangeSet(
            writes=[StoredMemory(rec, vec)],
            history=[HistoryEntry(id, ChangeEvent.UPDATE, old.text, rec.text, rec.scope, now, actor)],
        )
        await self._commit_and_index(change, [(id, vec, rec)], [])
        await self._publish([MemoryEvent(EventKind.UPDATE, rec.scope, id, rec, old.text)], [], [])
        return rec

    async def delete(self, id: str, *, actor: str | None = None) -> MemoryRecord:
        old = await self.get(id)
        await self._delete_records([old], actor)
        return old

    async def delete_all(self, scope: Scope, *, actor: str | None = None) -> int:
        scope.require()
        ids = await self._repo.ids_in_scope(scope, include_invalidated=True)
        records = list((await self._repo.get_many(ids)).values())
        await self._delete_records(records, actor)
        if self._graph is not None:
            try:
                await self._graph.delete_scope(scope)
            except StoreUnavailable as exc:
                log.warning("graph unavailable while deleting a scope's entities: %s", exc)
            self._entities.forget(scope)
        return len(records)

    async def _delete_records(self, records: list[MemoryRecord], actor: str | None) -> None:
        if not records:
            return
        now = utcnow()
        change = ChangeSet(
            deletes=[r.id for r in records],
            history=[HistoryEntry(r.id, ChangeEvent.DELETE, r.text, None, r.scope, now, actor) for r in records],
        )
        await self._commit_and_index(change, [], [])
        invalid: list[Relation] = []
        if self._graph is not None:
            try:
                invalid = await self._graph.delete_memory_relations([r.id for r in records], now)
            except StoreUnavailable as exc:
                log.warning("graph unavailable while invalidating relations of deleted memories: %s", exc)
        await self._publish([MemoryEvent(EventKind.DELETE, r.scope, r.id, r, r.text) for r in records], [], invalid)

    async def reset(self) -> None:
        """Forget everything: memories, history, outbox, vectors and the graph."""
        async with self.keeper.writing():
            await self._repo.reset()
            await self._index.clear()
            self._catalog.clear()
        if self._graph is not None:
            await self._graph.reset()
            self._entities.forget()
        await self.keeper.snapshot()
        await self.events.publish(MemoryEvent(EventKind.RESET, Scope()))

    # reading -------------------------------------------------------------------------------
    async def get(self, id: str) -> MemoryRecord:
        rec = await self._repo.get(id) if isinstance(id, str) and id else None
        if rec is None:
            raise NotFound(f"memory {id!r} does not exist")
        return rec

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        return await self._repo.get_many(list(ids))

    def _limit(self, limit: int, what: str = "limit") -> int:
        if not isinstance(limit, int) or limit < 1 or limit > self.options.max_limit:
            raise InvalidInput(f"{what} must be between 1 and {self.options.max_limit}")
        return limit

    async def search(
        self,
        query: str,
        scope: Scope,
        *,
        filters: Filter | None = None,
        limit: int = 10,
        threshold: float | None = None,
        include_invalidated: bool = False,
    ) -> SearchResult:
        scope.require()
        query = _check_text(query, "query")
        limit = self._limit(limit)
        if threshold is not None and not (-1.0 <= threshold <= 1.0 and math.isfinite(threshold)):
            raise InvalidInput("threshold must be between -1 and 1 (cosine similarity)")
        async with asyncio.TaskGroup() as tg:
            hits_task = tg.create_task(self._vector_hits(query, scope, filters, limit, include_invalidated))
            rel_task = tg.create_task(self._query_relations(query, scope))
        hits = [h for h in hits_task.result() if threshold is None or h.score >= threshold]
        return SearchResult(hits, rel_task.result())

    async def _vector_hits(
        self, query: str, scope: Scope, filters: Filter | None, limit: int, include_invalidated: bool
    ) -> list[SearchHit]:
        vec = (await self._embedder.embed([query]))[0]
        allow = self._catalog.allow(scope, include_invalidated)
        k = limit if filters is None else limit * 4
        while True:
            pairs = await self._index.nearest(vec, k, allow)
            records = await self._repo.get_many([id for id, _ in pairs])
            hits = [
                SearchHit(records[id], score)
                for id, score in pairs
                if id in records and matches(filters, records[id])
            ]
            # widen until `limit` hits pass the filter or the scope is exhausted: filters are exact
            if len(hits) >= limit or len(pairs) < k:
                return hits[:limit]
            k *= 4

    async def _query_relations(self, query: str, scope: Scope) -> list[Relation]:
        if self._graph is None:
            return []
        words = [w.casefold() for w in _WORD.findall(query)]
        names = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
        if {"i", "me", "my", "mine", "myself"} & set(words) and scope.user_id:
            names.add(normalise_name(scope.user_id))
        try:
            return await self._graph.relations_for(scope, sorted(names)[:200])
        except StoreUnavailable as exc:
            log.warning("graph unavailable during search; returning no relations: %s", exc)
            return []

    async def list_memories(
        self,
        scope: Scope | None,
        *,
        filters: Filter | None = None,
        first: int = 20,
        after: str | None = None,
        order: Order = Order.CREATED_DESC,
        include_invalidated: bool = False,
    ) -> MemoryPage:
        first = self._limit(first, "first")
        cursor = decode_cursor(after) if after else None
        found: list[MemoryRecord] = []
        batch = first + 1 if filters is None else max(100, first * 4)
        while len(found) <= first:
            page = await self._repo.list_page(
                scope, order=order, after=cursor, limit=batch, include_invalidated=include_invalidated
            )
            found += [r for r in page if matches(filters, r)]
            if len(page) < batch:
                break
            last = page[-1]
            cursor = PageCursor(_order_at(last, order), last.id)
        items = found[:first]
        end = encode_cursor(_order_at(items[-1], order), items[-1].id) if items else None
        return MemoryPage(items, end, len(found) > first)

    async def history(self, id: str) -> list[HistoryEntry]:
        entries = (await self._repo.history([id])).get(id, [])
        if not entries:
            raise NotFound(f"memory {id!r} has no history (it never existed)")
        return entries

    async def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        return await self._repo.history(list(ids))

    async def counts(self) -> dict[str, int]:
        out = {"memories": len(self._catalog), "outbox": await self._repo.outbox_size()}
        if self._graph is not None:
            with contextlib.suppress(StoreUnavailable):
                out["entities"], out["relations"] = await self._graph.counts()
        return out

    # graph ---------------------------------------------------------------------------------
    def _require_graph(self) -> GraphStore:
        if self._graph is None:
            raise StoreUnavailable("graph", "the graph store is disabled by configuration")
        return self._graph

    async def entities(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> list[Entity]:
        return await self._require_graph().entities(scope, query, self._limit(first, "first"), after)

    async def relations(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> list[Relation]:
        rel = query.relation and relation_type(query.relation)
        query = replace(query, relation=rel or None)
        return await self._require_graph().relations(scope, query, self._limit(first, "first"), after)

    async def neighbourhood(self, scope: Scope, name: str, depth: int) -> Neighbourhood:
        scope.require()
        if not isinstance(depth, int) or not 1 <= depth <= 3:
            raise InvalidInput("depth must be 1, 2 or 3")
        entities, relations = await self._require_graph().neighbourhood(scope, normalise_name(_check_text(name, "entity")), depth)
        return Neighbourhood(entities, relations)

    async def relations_by_memory(self, ids: Sequence[str]) -> dict[str, list[Relation]]:
        if self._graph is None:
            return {}
        return await self._graph.relations_by_memory(list(ids))

    async def add_relation(
        self, scope: Scope, source: str, relation: str, destination: str, *, actor: str | None = None
    ) -> AddResult:
        scope.require()
        self._require_graph()
        triple = Triple(normalise_name(_check_text(source, "source")), relation_type(relation),
                        normalise_name(_check_text(destination, "destination")))
        works = await self._graph_works(scope, [], [triple])
        added, invalid, pending = await self._commit_and_index(ChangeSet(graph_work=works), [], works)
        await self._publish([], added, invalid)
        return AddResult([], added, invalid, pending)

    async def invalidate_relation(
        self, scope: Scope, source: str, relation: str, destination: str, *, actor: str | None = None
    ) -> list[Relation]:
        scope.require()
        changed = await self._require_graph().invalidate_relation(
            scope, normalise_name(_check_text(source, "source")), relation_type(relation),
            normalise_name(_check_text(destination, "destination")), utcnow(),
        )
        if not changed:
            raise NotFound(f"no valid relation ({source})-[{relation}]->({destination}) in this scope")
        await self._publish([], [], changed)
        return changed


def _order_at(rec: MemoryRecord, order: Order) -> datetime:
    return rec.created_at if order in (Order.CREATED_ASC, Order.CREATED_DESC) else rec.updated_at

