"""MemoryService: the core's public operations (remember, recall, forget), all async and scoped.

The service owns the write path (add, update, delete) and hands the rest to plain collaborators
built here from the ports it is given: MemoryReader (get, search, list, history), KnowledgeGraph
(entities, relations, manual relations, graph work for extracted facts) and Committer (one
change applied to SQL, the catalog, the vector index and the graph, then published)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from memory.background import cancel
from memory.batch import CheckedEdit, MaySee, MemoryEdit, check_deletes, check_edits
from memory.catalog import ALLOWED_KEPT, ScopeCatalog
from memory.categories import Category, CategoryClassifier, check_labels
from memory.committer import Committer, DeliveryPlanner
from memory.entities import EntityResolver
from memory.errors import AgentMemError, Immutable, InvalidInput, NotFound, StoreUnavailable
from memory.events import EventBus, EventKind, MemoryEvent
from memory.expiry import ACTIONS, KEEP, Expirer, ExpirySweep, Keep, check_future
from memory.follower import SqlFollower
from memory.graph_presence import GraphPresence
from memory.graph_writer import GraphWriter
from memory.index_keeper import IndexKeeper
from memory.exports import Exporter
from memory.images import SOURCES_KEY, describe_images
from memory.ingest import Decided, Ingestor, new_record
from memory.knowledge import KnowledgeGraph
from memory.models import (
    ChangeEvent,
    Feedback,
    FeedbackRating,
    HistoryEntry,
    MemoryRecord,
    Message,
    Relation,
    Scope,
    StoredMemory,
    Triple,
    as_utc,
    text_hash,
    utcnow,
)
from memory.observe import Observer, observed
from memory.ports import LLM, ChangeSet, Embedder, ExportStore, GraphStore, MemoryRepository, Reranker, VectorIndex, Vision
from memory.options import ServiceOptions
from memory.reader import MemoryReader
from memory.results import AddResult, MemoryChange
from memory.searcher import Searcher
from memory.text_index import TextIndex
from memory.views import MemoryViews
from memory.project import UNSET, ProjectSettings, ProjectSettingsCache, ProjectSettingsStore
from memory.prompts import steering
from memory.validation import check_batch_size, check_event_time, check_message_count, check_metadata, check_text

log = logging.getLogger(__name__)

MAX_FEEDBACK_REASON = 2000


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
        observer: Observer | None = None,
        reranker: Reranker | None = None,
        vision: Vision | None = None,
        exports: ExportStore | None = None,
        project: ProjectSettingsStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if options.expiry_action not in ACTIONS:
            raise InvalidInput(f"expiry_action must be one of {', '.join(ACTIONS)}")
        self.observer = observer  # watches add/update/delete (the edge's metrics and tracing)
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._graph = graph
        self._llm = llm
        self._vision = vision
        self.events = events or EventBus()
        self.options = options
        self._catalog = ScopeCatalog(clock)
        self._text = TextIndex(clock, fallback=repo) if options.text_index else None
        self._text_fill: asyncio.Task[None] | None = None
        self._clock = clock
        # None without a store: adds use the configured categories and no project instructions
        self.project = ProjectSettingsCache(project, options.project_settings_ttl_s) if project is not None else None
        self._classifier = CategoryClassifier(embedder, threshold=options.category_threshold,
                                              max_per_memory=options.max_categories)
        self.keeper = IndexKeeper(index, repo, index_save_interval_s, order=self._catalog.ids_by_owner,
                                  warm=self._prepare_scans)
        views = MemoryViews(self._catalog, self._text)  # the committer and the follower keep both in step
        self.follower = SqlFollower(repo, index, views, self.keeper.gate, options.sync_interval_s,
                                    on_change=self.keeper.mark_dirty)
        # another replica's event means SQL already holds its change: fetch it now
        self.events.on_foreign(lambda _event: self.follower.poke())
        self.writer = (
            GraphWriter(graph, repo, drain_interval_s=options.graph_drain_interval_s,
                        max_backoff_s=options.graph_max_backoff_s)
            if graph is not None else None
        )
        self._committer = Committer(repo, index, views, self.keeper, self.follower, self.writer, self.events,
                                    options.graph_write_timeout_s)
        self._entities = EntityResolver(graph, embedder, options.entity_match_threshold)
        self.knowledge = KnowledgeGraph(graph, self._entities, self._committer,
                                        exclusive_relations=options.exclusive_relations, max_limit=options.max_limit)
        presence = GraphPresence(graph) if graph is not None else None
        if presence is not None:  # relations added here or on another replica end a "no graph" verdict
            self.events.add_sink(presence.see)
            self.events.on_foreign(presence.saw)
        self.searcher = Searcher(repo, index, embedder, self._catalog, options.fusion, reranker,
                                 options.rerank_candidates, options.filter_scan_budget, graph=graph, presence=presence,
                                 text=self._text)
        self.reader = MemoryReader(repo, graph, self._catalog, self.searcher, max_limit=options.max_limit,
                                   scan_budget=options.filter_scan_budget, presence=presence, observer=observer)
        # reading and the knowledge graph are the collaborators' own operations
        self.get = self.reader.get
        self.get_many = self.reader.get_many
        self.search = self.reader.search
        self.list_memories = self.reader.list_memories
        self.owners = self.reader.owners
        self.history = self.reader.history
        self.history_many = self.reader.history_many
        self.entities = self.knowledge.entities
        self.relations = self.knowledge.relations
        self.neighbourhood = self.knowledge.neighbourhood
        self.relations_by_memory = self.knowledge.relations_by_memory
        self.add_relation = self.knowledge.add_relation
        self.invalidate_relation = self.knowledge.invalidate_relation
        self._expirer = Expirer(repo, self._catalog, self._committer, options.expiry_action,
                                delete=self._delete_records, retire=self._retire_relations)
        self.sweep = ExpirySweep(self.expire_due, options.expiry_sweep_s)
        self._ingest = Ingestor(
            embedder, index, self._catalog, repo, llm,
            dedup_threshold=options.dedup_threshold, similar_memories=options.similar_memories,
            max_categories=options.max_categories,
        )
        # None without an export store: export operations then answer that exports are off
        self.exports = (
            Exporter(exports, self.reader.list_memories,
                     replace(options.exports, page_size=min(options.exports.page_size, options.max_limit)),
                     feedback=repo.feedback)
            if exports is not None else None
        )

    def use_webhooks(self, planner: DeliveryPlanner | None) -> None:
        """Write the webhook deliveries of memory events in the change's own SQL transaction
        (memory.webhooks.WebhookRegistry.plan); None: stop."""
        self._committer.planner = planner

    # lifecycle -----------------------------------------------------------------------------
    async def start(self, graph_up: asyncio.Future[None] | None = None) -> None:
        """Reconcile the vector index with SQL and start the background writers. `graph_up`: the
        graph store is still starting; the graph writer waits for it."""
        await self.follower.mark()  # first: what changes while we load is caught up later
        await self._catalog.fill(self._repo.catalog)
        await self.keeper.reconcile(self._catalog.ids())
        self.keeper.start()
        self.follower.start()
        if self.writer is not None:
            self.writer.start(after=graph_up)
        if self.exports is not None:
            await self.exports.start()
        self.sweep.start()
        if self._text is not None:  # searches read SQL's indexes until it is built
            self._text_fill = asyncio.create_task(self._fill_text(), name="text-index-fill")

    async def _prepare_scans(self) -> None:
        # as many scopes as the catalog keeps allowed sets for (the index keeps their labels)
        prepared = await self.searcher.prepare_scans(ALLOWED_KEPT)
        log.debug("prepared the searches of the %d largest scopes", prepared)

    async def _fill_text(self) -> None:
        assert self._text is not None
        started = time.monotonic()
        try:
            await self._text.fill(self._repo.text_rows, self.keeper.gate.exclusive)
        except Exception:  # searches keep reading SQL's own indexes
            log.exception("building the in-memory text index failed; search reads SQL's full-text index")
            return
        log.info("in-memory text index built: %d memories in %.1f s", len(self._text), time.monotonic() - started)

    def text_index_state(self) -> tuple[str, int]:
        """The in-memory text index: ("disabled" | "building" | "ready", memories it holds)."""
        if self._text is None:
            return "disabled", 0
        return ("ready" if self._text.ready else "building"), len(self._text)

    async def text_index_built(self) -> bool:
        """Wait for the in-memory text index's start-up fill; whether searches now read it."""
        if self._text_fill is not None:
            await asyncio.shield(self._text_fill)
        return self._text is not None and self._text.ready

    async def stop(self) -> None:
        await cancel(self._text_fill)
        self._text_fill = None
        await self.sweep.stop()
        if self.exports is not None:
            await self.exports.stop()
        await self.follower.stop()
        if self.writer is not None:
            await self.writer.stop()
        await self.keeper.stop()

    # writing -------------------------------------------------------------------------------
    @observed("add")
    async def add(
        self,
        messages: Sequence[Message],
        scope: Scope,
        *,
        metadata: Mapping[str, Any] | None = None,
        infer: bool = True,
        prompt: str | None = None,
        actor: str | None = None,
        occurred_at: datetime | None = None,
        immutable: bool = False,
        includes: str | None = None,
        excludes: str | None = None,
        expires_at: datetime | None = None,
        categories: Sequence[str] | None = None,
        custom_categories: Sequence[Category] | None = None,
    ) -> AddResult:
        """Remember messages. `occurred_at` is when they happened (each message's own time wins
        for raw adds); it defaults to now. `immutable`: the memories added can never be updated
        (by a caller or by an LLM decision), only deleted. `prompt`, `includes` (what to extract)
        and `excludes` (what never to extract) steer LLM extraction and are refused without an LLM.
        `expires_at`: the memories added leave every read then (it must lie ahead). `categories`
        files every memory added under exactly these; else the LLM files them (when configured)
        or their embedding's closeness to the descriptions of `custom_categories` (default: the
        configured set) does."""
        scope.require()
        occurred_at = check_event_time(occurred_at, "occurred_at")
        expires_at = check_future(as_utc(expires_at) if expires_at is not None else None, self._clock())
        labels = check_labels(categories) if categories is not None else None
        project = await self.project_settings()
        category_set = tuple(custom_categories) if custom_categories else self._categories(project)
        meta = check_metadata(metadata)
        if not messages:
            raise InvalidInput("messages must not be empty")
        check_message_count(len(messages), 0)
        messages, images = await describe_images(messages, self._vision, self.options.image_max_bytes,
                                                 self.options.image_media_types)
        if images:
            meta = {**meta, SOURCES_KEY: images}
        for i, m in enumerate(messages):
            check_text(m.content, f"messages[{i}].content")
            if not isinstance(m.role, str) or not m.role.strip():
                raise InvalidInput(f"messages[{i}].role must be a non-empty string")
            check_event_time(m.occurred_at, f"messages[{i}].occurred_at")
        check_message_count(len(messages), sum(len(m.content) for m in messages))
        for name, value in (("prompt", prompt), ("includes", includes), ("excludes", excludes)):
            if value is not None:
                _check_instructions(name, value, infer, self._llm is not None)
        messages = [Message(m.role.strip().lower(), m.content.strip(), as_utc(m.occurred_at) if m.occurred_at else None)
                    for m in messages]
        if prompt is None and self._llm is not None:  # the project's instructions steer only an LLM
            prompt = project.custom_instructions
        decided = await self._ingest.decide(messages, scope, infer, steering(prompt, includes, excludes),
                                            category_set if labels is None else ())
        filed = await self._file(decided, labels, category_set)
        return await self._apply(decided, scope, meta, actor, occurred_at, immutable, expires_at, filed)

    async def project_settings(self) -> ProjectSettings:
        """The project's settings as this replica holds them (at most project_settings_ttl_s old)."""
        return await self.project.current() if self.project is not None else ProjectSettings()

    async def update_project_settings(self, *, custom_categories: Any = UNSET,
                                      custom_instructions: Any = UNSET) -> ProjectSettings:
        """Change the project's category set and/or extraction instructions (checked; an empty
        set or blank instructions clear them); applies to every later add without its own."""
        if self.project is None:
            raise InvalidInput("project settings need the SQL store, which this service was started without")
        return await self.project.update(custom_categories=custom_categories, custom_instructions=custom_instructions)

    def _categories(self, project: ProjectSettings) -> tuple[Category, ...]:
        return project.custom_categories or self.options.categories

    async def _file(self, d: Decided, labels: tuple[str, ...] | None,
                    category_set: tuple[Category, ...]) -> list[tuple[str, ...]]:
        """Categories for each planned add then each update, in order: the caller's (adds only),
        the LLM's, else by embedding (the vectors computed for the index: nothing is embedded
        twice). A memory an LLM decision rewrites is filed again by embedding."""
        planned = [labels if labels is not None else c.categories for c, _ in d.adds] + [None for _ in d.updates]
        vectors = [v for _, v in d.adds] + [v for _, _, v in d.updates]
        unfiled = [i for i, got in enumerate(planned) if got is None]
        guessed = iter(await self._classifier.classify([vectors[i] for i in unfiled], category_set))
        return [got if got is not None else next(guessed) for got in planned]

    async def _apply(
        self, d: Decided, scope: Scope, meta: dict[str, Any], actor: str | None, occurred_at: datetime | None = None,
        immutable: bool = False, expires_at: datetime | None = None, filed: Sequence[tuple[str, ...]] = (),
    ) -> AddResult:
        now = utcnow()
        change = ChangeSet()
        results: list[MemoryChange] = []
        events: list[MemoryEvent] = []
        fact_triples: list[tuple[str, tuple[Triple, ...]]] = []
        filing = iter(filed)
        for cand, vec in d.adds:
            rec = replace(new_record(cand.text, scope, meta, cand.role, cand.occurred_at or occurred_at, immutable),
                          expires_at=expires_at, categories=next(filing, ()))
            change.writes.append(StoredMemory(rec, vec))
            change.history.append(HistoryEntry(rec.id, ChangeEvent.ADD, None, rec.text, scope, now, actor, cand.role))
            results.append(MemoryChange(rec.id, rec.text, ChangeEvent.ADD, None, rec))
            events.append(MemoryEvent(EventKind.ADD, scope, rec.id, rec))
            if cand.triples:
                fact_triples.append((rec.id, cand.triples))
        for old, text, vec in d.updates:
            rec = replace(old, text=text, hash=text_hash(text), updated_at=now, categories=next(filing, old.categories))
            change.writes.append(StoredMemory(rec, vec))
            change.history.append(HistoryEntry(rec.id, ChangeEvent.UPDATE, old.text, text, rec.scope, now, actor))
            results.append(MemoryChange(rec.id, text, ChangeEvent.UPDATE, old.text, rec))
            events.append(MemoryEvent(EventKind.UPDATE, rec.scope, rec.id, rec, old.text))
        kept = await self._repo.embeddings([old.id for old, _ in d.invalidations]) if d.invalidations else {}
        for old, reason in d.invalidations:
            rec = replace(old, invalidated_at=now, invalidation_reason=reason, updated_at=now)
            change.writes.append(StoredMemory(rec, kept[old.id]))
            change.history.append(
                HistoryEntry(rec.id, ChangeEvent.INVALIDATE, old.text, old.text, rec.scope, now, actor, reason=reason)
            )
            results.append(MemoryChange(rec.id, rec.text, ChangeEvent.DELETE, old.text, rec))
            events.append(MemoryEvent(EventKind.INVALIDATE, rec.scope, rec.id, rec, old.text))
        for old, triples in d.unchanged:
            results.append(MemoryChange(old.id, old.text, ChangeEvent.NONE, None, old))
            if triples:
                fact_triples.append((old.id, triples))
        works = await self.knowledge.works_for(scope, fact_triples, d.loose_triples)
        change.graph_work.extend(works)
        added, invalid, pending = await self._committer.commit(change, works, events)
        invalid += await self._retire_relations([old.id for old, _ in d.invalidations], now)
        await self._committer.publish(events, added, invalid)
        return AddResult(results, added, invalid, pending, d.stored_raw)

    @observed("update")
    async def update(
        self, id: str, *, text: str | None = None, metadata: Mapping[str, Any] | None = None, actor: str | None = None,
        expires_at: datetime | None | Keep = KEEP, categories: Sequence[str] | None = None,
    ) -> MemoryRecord:
        """Change a memory's text, metadata, expiry (a new one must lie ahead; None clears it)
        and/or categories. New text without `categories` is filed again by embedding (the
        configured set)."""
        if text is None and metadata is None and expires_at is KEEP and categories is None:
            raise InvalidInput("give text, metadata, expiration date and/or categories to update")
        if not isinstance(expires_at, Keep):
            expires_at = check_future(as_utc(expires_at) if expires_at is not None else None, self._clock())
        labels = check_labels(categories) if categories is not None else None
        old = await self.get(id)
        if old.immutable:
            raise Immutable(f"memory {id!r} is immutable: delete it and add it again to change it")
        now = utcnow()
        rec = old
        if metadata is not None:
            rec = replace(rec, metadata=check_metadata(metadata))
        if text is not None:
            text = check_text(text)
            rec = replace(rec, text=text, hash=text_hash(text))
            vec = (await self._embedder.embed([text], old.scope.tenant))[0]
            if labels is None:
                category_set = self._categories(await self.project_settings())
                labels = (await self._classifier.classify([vec], category_set))[0]
        else:
            vec = (await self._repo.embeddings([id]))[id]
        rec = replace(rec, updated_at=now, expires_at=rec.expires_at if isinstance(expires_at, Keep) else expires_at,
                      categories=rec.categories if labels is None else labels)
        change = ChangeSet(
            writes=[StoredMemory(rec, vec)],
            history=[HistoryEntry(id, ChangeEvent.UPDATE, old.text, rec.text, rec.scope, now, actor)],
        )
        events = [MemoryEvent(EventKind.UPDATE, rec.scope, id, rec, old.text)]
        await self._committer.commit(change, [], events)
        await self._committer.publish(events, [], [])
        return rec

    @observed("update_many")
    async def update_many(self, edits: Sequence[MemoryEdit], *, actor: str | None = None,
                          may_see: MaySee | None = None) -> list[MemoryRecord]:
        """Apply every edit in one SQL transaction, or none: BatchRejected names each item refused
        (missing or not visible by `may_see`, immutable, repeated, invalid text or metadata)."""
        check_batch_size(len(edits), "a batch update")
        found = self._unexpired(await self._repo.get_many([e.memory_id for e in edits if isinstance(e.memory_id, str)]))
        checked = check_edits(edits, found, may_see)
        vectors = await self._repo.embeddings([c.old.id for c in checked if c.text is None])
        by_tenant: dict[str, list[CheckedEdit]] = {}
        for c in checked:
            if c.text is not None:
                by_tenant.setdefault(c.old.scope.tenant, []).append(c)
        for tenant, group in by_tenant.items():  # the embedder shares the model fairly per tenant
            embedded = await self._embedder.embed([c.text for c in group if c.text is not None], tenant)
            vectors.update({c.old.id: vec for c, vec in zip(group, embedded)})
        now = utcnow()
        change = ChangeSet()
        events: list[MemoryEvent] = []
        out: list[MemoryRecord] = []
        for c in checked:
            old, text = c.old, c.text if c.text is not None else c.old.text
            rec = replace(old, text=text, hash=text_hash(text), updated_at=now,
                          metadata=c.metadata if c.metadata is not None else old.metadata)
            change.writes.append(StoredMemory(rec, vectors[old.id]))
            change.history.append(HistoryEntry(old.id, ChangeEvent.UPDATE, old.text, text, old.scope, now, actor))
            events.append(MemoryEvent(EventKind.UPDATE, old.scope, old.id, rec, old.text))
            out.append(rec)
        await self._committer.commit(change, [], events)
        await self._committer.publish(events, [], [])
        return out

    def _unexpired(self, found: dict[str, MemoryRecord]) -> dict[str, MemoryRecord]:
        """An expired memory is gone for batch edits as for single ones (reported as missing)."""
        now = self._clock()
        return {id: r for id, r in found.items() if not r.expired(now)}

    @observed("delete_many")
    async def delete_many(self, ids: Sequence[str], *, actor: str | None = None,
                          may_see: MaySee | None = None) -> list[MemoryRecord]:
        """Delete every memory named, in one SQL transaction, or none (BatchRejected names each id
        refused: missing, not visible by `may_see`, repeated). Immutable memories can be deleted."""
        check_batch_size(len(ids), "a batch delete")
        found = self._unexpired(await self._repo.get_many([id for id in ids if isinstance(id, str)]))
        records = check_deletes(ids, found, may_see)
        await self._delete_records(records, actor)
        return records

    @observed("delete")
    async def delete(self, id: str, *, actor: str | None = None, purge: bool = False) -> MemoryRecord:
        """Delete one memory. `purge`: erase it for real: its text also leaves the history (the
        audit lines stay, without content), the graph and the pending graph work."""
        old = await self.get(id)
        if purge and self._graph is not None:
            await self._graph.erase_memories([id])  # first: a graph that is down refuses the erase
        await self._delete_records([old], actor, purge)
        if purge:
            self._entities.forget(old.scope)  # cached entity names are memory text too
            await self._forget_exports(old.scope)
        return old

    @observed("delete_all")
    async def delete_all(self, scope: Scope, *, actor: str | None = None, purge: bool = False) -> int:
        scope.require()
        ids = await self._repo.ids_in_scope(scope, include_invalidated=True)
        records = list((await self._repo.get_many(ids)).values())
        if purge and self._graph is not None:
            await self._graph.erase_memories(ids)
            await self._graph.delete_scope(scope)
        await self._delete_records(records, actor, purge, scope if purge else None)
        if self._graph is not None and not purge:
            try:
                await self._graph.delete_scope(scope)
            except StoreUnavailable as exc:
                log.warning("graph unavailable while deleting a scope's entities: %s", exc)
        self._entities.forget(scope)
        if purge:
            await self._forget_exports(scope)
        return len(records)

    async def _delete_records(self, records: list[MemoryRecord], actor: str | None, purge: bool = False,
                              erase_scope: Scope | None = None, reason: str | None = None) -> None:
        if erase_scope is not None and not records:  # memories deleted earlier still have history text
            await self._committer.commit(ChangeSet(erased_scope=erase_scope), [])
        if not records:
            return
        now = utcnow()
        ids = [r.id for r in records]
        if purge:
            # the audit line says who erased what, when; no content
            history = [HistoryEntry(r.id, ChangeEvent.DELETE, None, None, r.scope, now, actor, reason="erased")
                       for r in records]
            log.info("erased %d memories for %s", len(records), actor or "an unnamed actor")
        else:
            history = [HistoryEntry(r.id, ChangeEvent.DELETE, r.text, None, r.scope, now, actor, reason=reason)
                       for r in records]
        change = ChangeSet(deletes=ids, history=history, erased=ids if purge else [], erased_scope=erase_scope)
        events = [MemoryEvent(EventKind.DELETE, r.scope, r.id, None if purge else r, None if purge else r.text)
                  for r in records]
        await self._committer.commit(change, [], events)
        invalid = [] if purge else await self._retire_relations(ids, now)
        await self._committer.publish(events, [], invalid)

    async def _forget_exports(self, scope: Scope) -> None:
        """An erase also deletes the exports that may hold the erased text (all of the scope's)."""
        if self.exports is not None:
            await self.exports.forget(scope)

    async def _retire_relations(self, memory_ids: list[str], at: datetime) -> list[Relation]:
        """Invalidate the relations these (deleted or invalidated) memories alone supported."""
        if not memory_ids or self._graph is None:
            return []
        try:
            return await self._graph.delete_memory_relations(memory_ids, at)
        except AgentMemError as exc:  # the SQL change is committed: report, don't fail the call
            log.warning("graph did not invalidate relations of %d memories: %s", len(memory_ids), exc)
            return []

    # expiry --------------------------------------------------------------------------------
    async def expire_due(self, limit: int = 500) -> int:
        """Write the end of up to `limit` memories whose expiry has come (see memory/expiry.py)."""
        return await self._expirer.expire_due(limit)

    # feedback ------------------------------------------------------------------------------
    async def give_feedback(self, id: str, rating: FeedbackRating | None, reason: str | None = None, *,
                            actor: str | None = None) -> Feedback | None:
        """Record what a user thought of a memory (replacing earlier feedback); `rating` None
        clears it (mem0 sends feedback=None for that). A memory's deletion removes its feedback."""
        await self.get(id)
        if rating is not None and not isinstance(rating, FeedbackRating):
            raise InvalidInput(f"feedback must be one of {', '.join(FeedbackRating)}")
        if reason is not None:
            reason = check_text(reason, "feedback_reason")
            if len(reason) > MAX_FEEDBACK_REASON:
                raise InvalidInput(f"feedback_reason is longer than {MAX_FEEDBACK_REASON} characters")
            if rating is None:
                raise InvalidInput("feedback_reason needs a feedback value")
        given = Feedback(id, rating, reason, actor, utcnow()) if rating is not None else None
        if not await self._repo.put_feedback(id, given):
            raise NotFound(f"memory {id!r} does not exist")  # deleted meanwhile
        return given

    async def feedback(self, ids: Sequence[str]) -> dict[str, Feedback]:
        """The feedback given on these memories (those without any are absent)."""
        return await self._repo.feedback(list(ids))

    async def reset(self) -> None:
        """Forget everything: memories, history, outbox, vectors, the graph and exports."""
        if self.exports is not None:
            await self.exports.forget_all()
        async with self.keeper.writing():
            await self._repo.reset()
            await self._index.clear()
            self._catalog.clear()
            if self._text is not None:
                self._text.clear()
        await self.follower.mark()
        if self._graph is not None:
            await self._graph.reset()
            self._entities.forget()
        await self.keeper.snapshot()
        await self.events.publish(MemoryEvent(EventKind.RESET, Scope()))

    async def counts(self) -> dict[str, int]:
        out = {"memories": len(self._catalog), "outbox": await self._repo.outbox_size()}
        if self._graph is not None:
            with contextlib.suppress(StoreUnavailable):
                out["entities"], out["relations"] = await self._graph.counts()
        return out


_WHAT = {"prompt": "prompt (custom instructions)", "includes": "includes (what to extract)",
         "excludes": "excludes (what not to extract)"}


def _check_instructions(name: str, text: str, infer: bool, have_llm: bool) -> None:
    """Instructions steer LLM extraction only: refuse them where they would be silently ignored.
    The built-in clause extractor cannot judge what a free-text instruction covers."""
    check_text(text, name)
    if not have_llm:
        raise InvalidInput(f"{_WHAT[name]} needs an LLM for extraction and none is configured "
                           "(set llm.base_url); leave it out to use the built-in extraction")
    if not infer:
        raise InvalidInput(f"{_WHAT[name]} steers extraction, which infer=false skips: leave one out")
