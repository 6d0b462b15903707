"""What the REST facade answers, in mem0's shapes (v1.1 output format), built from the core's
results. /openapi.json documents these same models."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel

from memory.models import ExportJob, HistoryEntry, MemoryRecord, Relation
from memory.results import AddResult, Owner, SearchHit

ChangeKind = Literal["ADD", "UPDATE", "DELETE", "INVALIDATE", "NONE"]


class MemoryOut(BaseModel):
    id: str
    memory: str = Field(description="The memory's text.")
    hash: str
    metadata: dict[str, Any] | None
    categories: list[str]
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    invalidated_at: datetime | None = Field(default=None, description="Set when a newer memory superseded this one.")
    invalidation_reason: str | None = None
    occurred_at: datetime = Field(description="When what the memory says happened (the add's timestamp, else created_at).")
    immutable: bool = Field(default=False, description="Added with immutable=true: updates are refused (409 IMMUTABLE).")
    expiration_date: datetime | None = Field(default=None, description="When it leaves every read (null: never).")

    @classmethod
    def of(cls, rec: MemoryRecord) -> MemoryOut:
        return cls(
            id=rec.id, memory=rec.text, hash=rec.hash, metadata=dict(rec.metadata) or None,
            categories=list(rec.categories), user_id=rec.scope.user_id, agent_id=rec.scope.agent_id,
            run_id=rec.scope.run_id, created_at=rec.created_at, updated_at=rec.updated_at,
            invalidated_at=rec.invalidated_at, invalidation_reason=rec.invalidation_reason,
            occurred_at=rec.event_time, immutable=rec.immutable, expiration_date=rec.expires_at,
        )


class HitScores(BaseModel):
    """Each search channel's score for a hit; null where that channel did not find it."""

    vector: float | None = Field(default=None, description="Cosine similarity to the query.")
    lexical: float | None = Field(default=None, description="Full-text relevance; compare within one search.")
    graph: float | None = None
    time: float | None = None
    fused: float | None = Field(default=None, description="Reciprocal-rank fusion, 1.0 = first in every channel.")
    reranked: float | None = None


class SearchHitOut(MemoryOut):
    score: float = Field(description="What ordered the hits: the fused score (hybrid) or the cosine similarity "
                                     "(keyword_search=false).")
    scores: HitScores
    matched_terms: list[str] = Field(description="The query's words found in the memory's text.")

    @classmethod
    def hit(cls, hit: SearchHit) -> SearchHitOut:
        s = hit.scores
        scores = HitScores(vector=s.vector, lexical=s.lexical, graph=s.graph, time=s.time, fused=s.fused,
                           reranked=s.reranked)
        return cls(**MemoryOut.of(hit.record).model_dump(), score=hit.score, scores=scores,
                   matched_terms=list(hit.matched_terms))


class GraphRelation(BaseModel):
    """A relation found by a search: source -[relationship]-> destination (mem0's graph shape)."""

    source: str
    relationship: str
    destination: str

    @classmethod
    def of(cls, rel: Relation) -> GraphRelation:
        return cls(source=rel.source, relationship=rel.relation, destination=rel.destination)


class GraphChange(BaseModel):
    """A relation written or invalidated by an add: source -[relationship]-> target (mem0's shape)."""

    source: str
    relationship: str
    target: str

    @classmethod
    def of(cls, rel: Relation) -> GraphChange:
        return cls(source=rel.source, relationship=rel.relation, target=rel.destination)


class AddRelations(BaseModel):
    added_entities: list[GraphChange]
    deleted_entities: list[GraphChange] = Field(description="Relations the new facts invalidated.")


class AddItem(BaseModel):
    id: str
    memory: str
    event: ChangeKind
    previous_memory: str | None = Field(default=None, description="The text before an UPDATE.")


class AddResponse(BaseModel):
    results: list[AddItem]
    relations: AddRelations
    graph_pending: bool = Field(description="Graph writes are queued and will land later.")
    stored_raw: bool = Field(description="Inference failed, so the messages were stored as they are.")

    @classmethod
    def of(cls, result: AddResult) -> AddResponse:
        items = [AddItem(id=c.id, memory=c.memory, event=c.event.value, previous_memory=c.previous_memory)
                 for c in result.results]
        relations = AddRelations(
            added_entities=[GraphChange.of(r) for r in result.relations_added],
            deleted_entities=[GraphChange.of(r) for r in result.relations_invalidated],
        )
        return cls(results=items, relations=relations, graph_pending=result.graph_pending,
                   stored_raw=result.stored_raw)


class SearchResponse(BaseModel):
    results: list[SearchHitOut]
    relations: list[GraphRelation]


class ListResponse(BaseModel):
    results: list[MemoryOut]
    next: str | None = Field(default=None, description="URL of the next page (page / page_size paging).")
    previous: str | None = Field(default=None, description="URL of the previous page (page / page_size paging).")
    next_cursor: str | None = Field(default=None, description="Pass as `after` for the next page (cursor paging).")
    has_more: bool


class UpdateResponse(MemoryOut):
    message: str


class Message(BaseModel):
    message: str


class DeleteResponse(Message):
    id: str


class DeleteAllResponse(Message):
    deleted: int


class BatchUpdateResponse(Message):
    results: list[MemoryOut] = Field(description="The memories as they are now, in the order given.")


class BatchDeleteResponse(Message):
    deleted: int
    ids: list[str]


class HistoryOut(BaseModel):
    """One change of a memory (mem0's history entry, plus who and why)."""

    id: str
    memory_id: str
    old_memory: str | None
    new_memory: str | None
    event: ChangeKind
    created_at: datetime
    updated_at: datetime
    is_deleted: bool
    actor_id: str | None
    role: str | None
    reason: str | None
    user_id: str | None
    agent_id: str | None
    run_id: str | None

    @classmethod
    def of(cls, e: HistoryEntry) -> HistoryOut:
        return cls(
            id=f"{e.memory_id}:{e.seq}" if e.seq is not None else e.memory_id, memory_id=e.memory_id,
            old_memory=e.old_text, new_memory=e.new_text, event=e.event.value, created_at=e.created_at,
            updated_at=e.created_at, is_deleted=e.event.value == "DELETE", actor_id=e.actor, role=e.role,
            reason=e.reason, user_id=e.scope.user_id, agent_id=e.scope.agent_id, run_id=e.scope.run_id,
        )


class HistoryResponse(RootModel[list[HistoryOut]]):
    pass


class EntityOut(BaseModel):
    id: str
    name: str
    type: Literal["user", "agent", "run"]
    total_memories: int

    @classmethod
    def of(cls, owner: Owner) -> EntityOut:
        return cls(id=owner.id, name=owner.id, type=owner.kind, total_memories=owner.memories)  # type: ignore[arg-type]


class EntitiesResponse(BaseModel):
    results: list[EntityOut]


class PingResponse(BaseModel):
    """mem0's MemoryClient calls this once to validate its key."""

    status: Literal["ok"]
    principal: str = Field(description="The credential's id.")
    role: str
    user_email: str | None = None
    org_id: str = Field(description="Always the same: AgentMem has no organisations (mem0 clients need one).")
    project_id: str = Field(description="Always the same: AgentMem has no projects (mem0 clients need one).")


class ErrorResponse(BaseModel):
    detail: str
    code: str = Field(description="BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, RATE_LIMITED...")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field problems of an invalid request; for a refused batch, one entry per item "
        "refused: loc [body, memories, index], msg, code, memory_id.")


class FeedbackResponse(BaseModel):
    id: str = Field(description="The memory's id.")
    feedback: Literal["POSITIVE", "NEGATIVE", "VERY_NEGATIVE"] | None
    feedback_reason: str | None


ExportState = Literal["queued", "running", "completed", "failed"]


class ExportCreated(BaseModel):
    message: str
    id: str = Field(description="Pass it as memory_export_id to POST /v1/exports/get/.")
    status: ExportState


class ExportOut(BaseModel):
    id: str
    status: ExportState
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None = Field(description="Why it failed (status failed).")
    count: int | None = Field(description="How many memories it holds (status completed).")
    results: list[Any] | None = Field(description="The exported objects (status completed), oldest memory first.")

    @classmethod
    def of(cls, job: ExportJob) -> ExportOut:
        return cls(id=job.id, status=job.status.value, user_id=job.scope.user_id, agent_id=job.scope.agent_id,
                   run_id=job.scope.run_id, created_at=job.created_at, finished_at=job.finished_at, error=job.error,
                   count=job.count, results=json.loads(job.result) if job.result is not None else None)


class ExportDownload(RootModel[list[Any]]):
    """The exported objects, as `results` holds them (sent as a file to save)."""
