"""What the service's operations return."""
from __future__ import annotations

from dataclasses import dataclass, field

from memory.models import ChangeEvent, Entity, MemoryRecord, Relation
from memory.ranking import Scores, matched_terms


@dataclass(frozen=True, slots=True)
class MemoryChange:
    id: str
    memory: str
    event: ChangeEvent
    previous_memory: str | None = None
    record: MemoryRecord | None = None


@dataclass(frozen=True, slots=True)
class AddResult:
    results: list[MemoryChange]
    relations_added: list[Relation] = field(default_factory=list)
    relations_invalidated: list[Relation] = field(default_factory=list)
    graph_pending: bool = False
    # True when inference failed (LLM error/unusable output) and the messages were stored raw
    stored_raw: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    record: MemoryRecord
    score: float  # what ordered the hits: fused (HYBRID), cosine (VECTOR) or lexical (LEXICAL)
    scores: Scores = Scores()
    terms: tuple[str, ...] = ()  # the query's terms
    # the memories stored just before and after it by the same owner (search's `context`), oldest first
    context: tuple[MemoryRecord, ...] = ()

    @property
    def matched_terms(self) -> tuple[str, ...]:
        """The query's terms found in the memory's text: worked out when asked (splitting and
        stemming ten hits' texts cost ~0.1 ms of a search that returns only ids and texts)."""
        return tuple(matched_terms(self.terms, self.record.text))


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[SearchHit]
    relations: list[Relation]


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    entities: list[Entity]
    relations: list[Relation]


@dataclass(frozen=True, slots=True)
class Owner:
    """One user, agent or run id that owns memories, with how many valid ones it has."""

    kind: str  # "user" | "agent" | "run"
    id: str
    memories: int
