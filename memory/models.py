"""Domain types that cross the core's ports. No driver objects, no dicts of rows."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt

from memory.errors import InvalidInput
from memory.ids import random_uuid

MemoryId = str
Vector = npt.NDArray[np.float32]

_SCOPE_PART = re.compile(r"^[\w.@:+\-]{1,128}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive time is read as UTC (as everywhere in the code base)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(random_uuid())


def text_hash(text: str) -> str:
    """Hash of the normalised text: equal texts (modulo case/spacing) share it."""
    normal = " ".join(text.split()).casefold()
    return hashlib.md5(normal.encode("utf-8"), usedforsecurity=False).hexdigest()  # an equality key, not a secret


class ChangeEvent(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    INVALIDATE = "INVALIDATE"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. Used as an exact owner on writes and as a prefix filter on reads:
    a read scope matches every memory whose fields equal the fields set in it."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "agent_id", "run_id"):
            value = getattr(self, name)
            if value is not None and not _SCOPE_PART.match(value):
                raise InvalidInput(
                    f"{name} must be 1-128 characters of letters, digits or . @ : + - _ (got {value!r})"
                )

    @property
    def is_empty(self) -> bool:
        return self.user_id is None and self.agent_id is None and self.run_id is None

    def require(self) -> Scope:
        if self.is_empty:
            raise InvalidInput("a scope is required: give at least one of user_id, agent_id, run_id")
        return self

    def contains(self, other: Scope) -> bool:
        """True when `other` (a memory's owner) falls inside this read scope."""
        return (
            (self.user_id is None or self.user_id == other.user_id)
            and (self.agent_id is None or self.agent_id == other.agent_id)
            and (self.run_id is None or self.run_id == other.run_id)
        )

    @property
    def tenant(self) -> str:
        """Whose work this is, for sharing the model fairly: the user, else the agent, else the run."""
        return self.user_id or self.agent_id or self.run_id or ""

    def key(self) -> str:
        """A stable string for the exact owner (used as a graph key part)."""
        return f"u:{self.user_id or ''}|a:{self.agent_id or ''}|r:{self.run_id or ''}"


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str
    occurred_at: datetime | None = None  # when it was said, for raw (infer=False) memories
    # an image (http(s) URL or data URI) the message consists of: described into `content`
    # before anything else reads the message (memory/images.py)
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    id: MemoryId
    text: str
    hash: str
    scope: Scope
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    invalidated_at: datetime | None = None
    invalidation_reason: str | None = None
    categories: tuple[str, ...] = ()
    # when what the memory says happened (mem0's `timestamp`, a message's time); None: created_at
    occurred_at: datetime | None = None
    # added with `immutable`: updates are refused and LLM decisions leave it as it is; deletes are allowed
    immutable: bool = False
    # from this moment the memory is gone from every read (the sweep then invalidates or deletes it)
    expires_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.invalidated_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def live(self, now: datetime) -> bool:
        """Valid and not expired at `now`: what a read without include_invalidated may return."""
        return self.invalidated_at is None and not self.expired(now)

    @property
    def event_time(self) -> datetime:
        return self.occurred_at or self.created_at


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory row as written to SQL: the record and its embedding."""

    record: MemoryRecord
    embedding: Vector


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    memory_id: MemoryId
    event: ChangeEvent
    old_text: str | None
    new_text: str | None
    scope: Scope
    created_at: datetime
    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    seq: int | None = None  # assigned by the repository, strictly increasing


class FeedbackRating(StrEnum):
    """mem0's feedback values on a memory."""

    POSITIVE = "POSITIVE"
    NEGATIVE = "NEGATIVE"
    VERY_NEGATIVE = "VERY_NEGATIVE"


@dataclass(frozen=True, slots=True)
class Feedback:
    """The current feedback on one memory (one per memory: giving it again replaces it)."""

    memory_id: MemoryId
    rating: FeedbackRating
    reason: str | None
    actor: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Triple:
    """One statement for the graph: source -[relation]-> destination."""

    source: str
    relation: str
    destination: str
    source_type: str = "entity"
    destination_type: str = "entity"
    # when the relation started to hold, where the text says so; None: since it was written
    valid_from: datetime | None = None
    # a retraction ("I no longer work at Initech"): invalidates the matching valid relation
    negated: bool = False


@dataclass(frozen=True, slots=True)
class GraphWork:
    """A unit of graph writing, persisted in the outbox in the memory's transaction.

    Applying the same work twice must not duplicate anything (MERGE semantics)."""

    id: str
    scope: Scope
    triples: tuple[Triple, ...]
    memory_id: MemoryId | None
    created_at: datetime
    # embeddings of entity names (normalised name -> list of floats) for fuzzy matching
    entity_embeddings: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    # relation types for which a new destination invalidates the previous ones
    exclusive_relations: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    type: str
    scope: Scope
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    source: str
    relation: str
    destination: str
    scope: Scope
    created_at: datetime
    valid: bool = True
    invalidated_at: datetime | None = None
    memory_id: MemoryId | None = None
    valid_from: datetime | None = None  # None means "since created_at"
    # when it stopped holding: the time the statement that ended it said ("I moved to Berlin in May"),
    # else when it was invalidated; None while valid
    valid_to: datetime | None = None

    @property
    def ended_at(self) -> datetime | None:
        return self.valid_to or self.invalidated_at

    def holds_at(self, at: datetime | None) -> bool:
        """Whether the relation held at `at` (None: now, i.e. it is valid): it had begun (its
        valid_from, else when it was recorded) and had not ended yet."""
        if at is None:
            return self.valid
        if (self.valid_from or self.created_at) > at:
            return False
        end = self.ended_at
        return self.valid or (end is not None and end > at)


@dataclass(frozen=True, slots=True)
class GraphWriteResult:
    added: tuple[Relation, ...] = ()
    invalidated: tuple[Relation, ...] = ()


@dataclass(frozen=True, slots=True)
class GraphQuery:
    """Filters for listing entities or relations."""

    name_contains: str | None = None
    entity_type: str | None = None
    relation: str | None = None
    include_invalid: bool = False
    as_of: datetime | None = None  # only relations that held then (see Relation.holds_at)


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ExportJob:
    """A memory export: which memories (scope and filter), in what shape, and how far it got.

    `filters` is the filter tree in the dict form `memory.filters.parse_filter` reads, so any
    replica can run or answer for the job from its SQL row alone."""

    id: str
    scope: Scope  # empty: every memory (admins only)
    filters: Mapping[str, Any] | None
    schema: Mapping[str, Any] | None
    status: ExportStatus
    created_at: datetime
    heartbeat_at: datetime  # the runner touches it after each page; a stale running job was orphaned
    actor: str | None = None
    finished_at: datetime | None = None
    error: str | None = None
    count: int | None = None  # memories written, once completed
    result: str | None = None  # the JSON document, once completed
