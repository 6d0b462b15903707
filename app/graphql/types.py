"""GraphQL output types and their converters from the core's models (camelCase in the schema).

Each type keeps the core object it came from (`strawberry.Private`) so that fields needing
more data (history, relations, entities, neighbours) resolve through the request's loaders."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info
from memory import models as m
from memory import results as r
from memory.errors import InvalidInput
from memory.events import EventKind, MemoryEvent
from memory.ranking import Scores

# nested lists take `first` so that the cost of an operation prices what it can answer
NESTED_FIRST = 20
AsOf = Annotated[datetime | None, strawberry.argument(
    description="Only relations that held at this time: begun by then (validFrom, else createdAt) and not "
    "ended yet (validTo). Default: those valid now.")]
PAGE_FIRST = 100  # the default largest page (memory.max_limit)
First = Annotated[int, strawberry.argument(description="How many to return at most; more than the service's largest page counts as that page.")]


def _first(info: Info, first: int) -> int:
    if first < 1:
        raise InvalidInput("first must be at least 1")
    return min(first, info.context.service.options.max_limit)  # as the cost model counts it

# registered with Strawberry under these names; fields are annotated with the core's enums
strawberry.enum(m.ChangeEvent, name="ChangeEvent", description="What a change did to a memory.")
strawberry.enum(EventKind, name="MemoryEventKind", description="Kinds of live events.")


@strawberry.type(description="One entry of a memory's audit trail, oldest first.")
class HistoryEvent:
    memory_id: strawberry.ID
    event: m.ChangeEvent
    old_text: str | None
    new_text: str | None
    created_at: datetime
    actor: str | None
    role: str | None
    reason: str | None

    @classmethod
    def of(cls, e: m.HistoryEntry) -> HistoryEvent:
        return cls(
            memory_id=strawberry.ID(e.memory_id), event=e.event, old_text=e.old_text, new_text=e.new_text,
            created_at=e.created_at, actor=e.actor, role=e.role, reason=e.reason,
        )


@strawberry.type(description="The current feedback on a memory (giving it again replaces it).")
class MemoryFeedback:
    rating: m.FeedbackRating
    reason: str | None
    actor: str | None = strawberry.field(description="The credential that gave it.")
    created_at: datetime

    @classmethod
    def of(cls, f: m.Feedback) -> MemoryFeedback:
        return cls(rating=f.rating, reason=f.reason, actor=f.actor, created_at=f.created_at)


@strawberry.type(description="A typed statement in the memory graph: source -[relation]-> destination.")
class Relation:
    source: str
    relation: str
    destination: str
    valid: bool
    created_at: datetime
    invalidated_at: datetime | None
    valid_from: datetime | None = strawberry.field(
        description="When the relation began, as the statement said it ('since 2019'); null: since createdAt."
    )
    valid_to: datetime | None = strawberry.field(
        description="When the relation stopped holding: the time the statement that ended it gave "
        "('I moved to Berlin in May'), else when it was invalidated; null while it holds."
    )
    memory_id: strawberry.ID | None
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    raw: strawberry.Private[m.Relation]

    @classmethod
    def of(cls, rel: m.Relation) -> Relation:
        return cls(
            source=rel.source, relation=rel.relation, destination=rel.destination, valid=rel.valid,
            created_at=rel.created_at, invalidated_at=rel.invalidated_at, valid_from=rel.valid_from,
            valid_to=rel.ended_at,
            memory_id=strawberry.ID(rel.memory_id) if rel.memory_id else None,
            user_id=rel.scope.user_id, agent_id=rel.scope.agent_id, run_id=rel.scope.run_id, raw=rel,
        )

    @strawberry.field(description="The memory this relation was extracted from, if it still exists.")
    async def memory(self, info: Info) -> Memory | None:
        if self.raw.memory_id is None:
            return None
        record = await info.context.loaders.memory.load(self.raw.memory_id)
        return Memory.of(record) if record else None


@strawberry.type(description="A node of the memory graph (a person, place, organisation...).")
class Entity:
    name: str
    type: str
    created_at: datetime | None
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    scope: strawberry.Private[m.Scope]

    @classmethod
    def of(cls, e: m.Entity) -> Entity:
        s = e.scope
        return cls(
            name=e.name, type=e.type, created_at=e.created_at,
            user_id=s.user_id, agent_id=s.agent_id, run_id=s.run_id, scope=s,
        )

    @strawberry.field(description="Valid relations from or to this entity (those valid at `asOf` when given).")
    async def relations(self, info: Info, first: First = NESTED_FIRST, as_of: AsOf = None) -> list[Relation]:
        hood = await info.context.loaders.neighbourhood.load((self.scope, self.name, 1, as_of))
        mine = [Relation.of(x) for x in hood.relations if self.name in (x.source, x.destination)]
        return mine[: _first(info, first)]

    @strawberry.field(description="Entities within `depth` (1-3) hops, this one excluded.")
    async def neighbours(self, info: Info, depth: int = 1, first: First = NESTED_FIRST) -> list[Entity]:
        hood = await info.context.loaders.neighbourhood.load((self.scope, self.name, depth, None))
        return [Entity.of(e) for e in hood.entities if e.name != self.name][: _first(info, first)]


@strawberry.type(description="A remembered fact, owned by a scope (user, agent and/or run).")
class Memory:
    id: strawberry.ID
    text: str
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    metadata: JSON
    categories: list[str]
    created_at: datetime
    updated_at: datetime
    invalidated_at: datetime | None
    invalidation_reason: str | None
    valid: bool
    occurred_at: datetime = strawberry.field(
        description="When what the memory says happened (given on add, else when it was stored).")
    immutable: bool = strawberry.field(
        description="Added as immutable: updates are refused (code IMMUTABLE) and LLM decisions keep it as it is.")
    expires_at: datetime | None = strawberry.field(
        description="From this time on it leaves every read (then the sweep invalidates or deletes it); null: never.")
    record: strawberry.Private[m.MemoryRecord]

    @classmethod
    def of(cls, rec: m.MemoryRecord) -> Memory:
        s = rec.scope
        return cls(
            id=strawberry.ID(rec.id), text=rec.text, user_id=s.user_id, agent_id=s.agent_id, run_id=s.run_id,
            metadata=JSON(dict(rec.metadata)), categories=list(rec.categories), created_at=rec.created_at,
            updated_at=rec.updated_at, invalidated_at=rec.invalidated_at,
            invalidation_reason=rec.invalidation_reason, valid=rec.valid, occurred_at=rec.event_time, immutable=rec.immutable,
            expires_at=rec.expires_at, record=rec,
        )

    @strawberry.field(description="Every change made to this memory, oldest first.")
    async def history(self, info: Info) -> list[HistoryEvent]:
        entries = await info.context.loaders.history.load(self.record.id)
        return [HistoryEvent.of(e) for e in entries]

    @strawberry.field(description="The feedback given on this memory (null: none).")
    async def feedback(self, info: Info) -> MemoryFeedback | None:
        found = await info.context.loaders.feedback.load(self.record.id)
        return MemoryFeedback.of(found) if found is not None else None

    @strawberry.field(description="Graph relations extracted from this memory.")
    async def relations(self, info: Info, first: First = NESTED_FIRST) -> list[Relation]:
        found = await info.context.loaders.memory_relations.load(self.record.id)
        return [Relation.of(rel) for rel in found[: _first(info, first)]]

    @strawberry.field(description="Entities named by this memory's relations (type as extracted: usually `entity`).")
    async def entities(self, info: Info, first: First = NESTED_FIRST) -> list[Entity]:
        found = await info.context.loaders.memory_relations.load(self.record.id)
        names = list(dict.fromkeys(n for rel in found for n in (rel.source, rel.destination)))[: _first(info, first)]
        return [Entity.of(m.Entity(name=n, type="entity", scope=self.record.scope)) for n in names]


@strawberry.type(description="What adding (or relating) did to one memory.")
class MemoryChange:
    id: strawberry.ID
    text: str
    event: m.ChangeEvent
    previous_text: str | None
    memory: Memory | None

    @classmethod
    def of(cls, c: r.MemoryChange) -> MemoryChange:
        return cls(
            id=strawberry.ID(c.id), text=c.memory, event=c.event, previous_text=c.previous_memory,
            memory=Memory.of(c.record) if c.record else None,
        )


@strawberry.type(description="The outcome of addMemories / addRelation.")
class AddResult:
    changes: list[MemoryChange]
    relations_added: list[Relation]
    relations_invalidated: list[Relation]
    graph_pending: bool = strawberry.field(
        description="True when graph writing was queued (the graph store was slow or down)."
    )
    stored_raw: bool = strawberry.field(
        description="True when fact extraction failed and the messages were stored as they are."
    )

    @classmethod
    def of(cls, res: r.AddResult) -> AddResult:
        return cls(
            changes=[MemoryChange.of(c) for c in res.results],
            relations_added=[Relation.of(x) for x in res.relations_added],
            relations_invalidated=[Relation.of(x) for x in res.relations_invalidated],
            graph_pending=res.graph_pending, stored_raw=res.stored_raw,
        )


@strawberry.type(description="Each channel's score for one hit; null where that channel did not find it.")
class SearchScores:
    vector: float | None = strawberry.field(description="Cosine similarity to the query.")
    lexical: float | None = strawberry.field(
        description="Full-text relevance (BM25 on SQLite, ts_rank_cd on PostgreSQL); compare within one search.")
    graph: float | None = strawberry.field(
        description="Graph channel score: the idf weights of the entities the query names that this memory names "
        "(half for entities one hop from them).")
    time: float | None = strawberry.field(description="Time channel score (event time against the query's time).")
    fused: float | None = strawberry.field(
        description="Weighted reciprocal-rank fusion of the channels, 1.0 = first in every channel (HYBRID only).")
    reranked: float | None = strawberry.field(description="The reranker's score, when one is configured.")

    @classmethod
    def of(cls, s: Scores) -> SearchScores:
        return cls(vector=s.vector, lexical=s.lexical, graph=s.graph, time=s.time, fused=s.fused, reranked=s.reranked)


@strawberry.type
class SearchHit:
    memory: Memory
    score: float = strawberry.field(
        description="What ordered the hits (higher is better): `scores.fused` in HYBRID mode, "
        "`scores.vector` in VECTOR mode, `scores.lexical` in LEXICAL mode.")
    scores: SearchScores = strawberry.field(description="Why this memory came back, per channel.")
    context: list[Memory] = strawberry.field(
        description="With search(context: n): the memories of the same owner stored just before and after "
        "this one, oldest first (the hit itself left out).")
    hit: strawberry.Private[r.SearchHit]

    @strawberry.field(description="The query's words found in the memory's text.")
    def matched_terms(self) -> list[str]:
        return list(self.hit.matched_terms)  # worked out only when selected

    @classmethod
    def of(cls, h: r.SearchHit) -> SearchHit:
        return cls(memory=Memory.of(h.record), score=h.score, scores=SearchScores.of(h.scores),
                   context=[Memory.of(c) for c in h.context], hit=h)


@strawberry.type
class SearchResult:
    hits: list[SearchHit]
    relations: list[Relation] = strawberry.field(
        description="Graph relations about the entities in the query (the graph is asked only when this is selected)."
    )

    @classmethod
    def of(cls, res: r.SearchResult) -> SearchResult:
        return cls(
            hits=[SearchHit.of(h) for h in res.hits],
            relations=[Relation.of(x) for x in res.relations],
        )


@strawberry.type
class Neighbourhood:
    found: strawberry.Private[r.Neighbourhood]

    @classmethod
    def of(cls, n: r.Neighbourhood) -> Neighbourhood:
        return cls(found=n)

    @strawberry.field(description="The entity asked for and those around it, by name.")
    def entities(self, info: Info, first: First = PAGE_FIRST) -> list[Entity]:
        return [Entity.of(e) for e in self.found.entities[: _first(info, first)]]

    @strawberry.field(description="Valid relations among those entities, oldest first.")
    def relations(self, info: Info, first: First = PAGE_FIRST) -> list[Relation]:
        return [Relation.of(x) for x in self.found.relations[: _first(info, first)]]


@strawberry.type
class DeleteMemoriesResult:
    deleted_count: int


@strawberry.type(
    name="MemoryEvent",
    description="A change, as it happens. `memory` is the state after it (before, for DELETE).")
class MemoryEventPayload:
    kind: EventKind
    at: datetime
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    memory_id: strawberry.ID | None
    memory: Memory | None
    previous_text: str | None
    relation: Relation | None
    origin: str | None = strawberry.field(description="Id of the replica where the change was made.")

    @classmethod
    def of(cls, ev: MemoryEvent) -> MemoryEventPayload:
        s = ev.scope
        return cls(
            kind=ev.kind, at=ev.at, user_id=s.user_id, agent_id=s.agent_id, run_id=s.run_id,
            memory_id=strawberry.ID(ev.memory_id) if ev.memory_id else None,
            memory=Memory.of(ev.memory) if ev.memory else None, previous_text=ev.previous_text,
            relation=Relation.of(ev.relation) if ev.relation else None, origin=ev.origin,
        )



strawberry.enum(m.ExportStatus, name="ExportStatus", description="Where a memory export is.")


@strawberry.type(description="A memory export: a background job that writes a scope's memories as JSON.")
class ExportJob:
    id: strawberry.ID
    status: m.ExportStatus
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None = strawberry.field(description="Why it failed (status FAILED).")
    count: int | None = strawberry.field(description="How many memories it holds (status COMPLETED).")
    job: strawberry.Private[m.ExportJob]

    @classmethod
    def of(cls, job: m.ExportJob) -> ExportJob:
        s = job.scope
        return cls(id=strawberry.ID(job.id), status=job.status, user_id=s.user_id, agent_id=s.agent_id,
                   run_id=s.run_id, created_at=job.created_at, finished_at=job.finished_at, error=job.error,
                   count=job.count, job=job)

    @strawberry.field(description="The exported objects, oldest memory first (null until COMPLETED).")
    def result(self) -> JSON | None:
        return JSON(json.loads(self.job.result)) if self.job.result is not None else None
