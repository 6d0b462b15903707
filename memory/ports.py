"""The core's ports: small Protocols the adapters implement. Domain types only."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from collections.abc import Hashable, Iterable, Set
from typing import Callable, Optional, Protocol, Sequence, TypeVar, Union

from pydantic import BaseModel

from memory.models import (
    Entity,
    ExportJob,
    Feedback,
    GraphQuery,
    GraphWork,
    GraphWriteResult,
    HistoryEntry,
    MemoryId,
    MemoryRecord,
    Message,
    Relation,
    Scope,
    StoredMemory,
    Vector,
)
from memory.pagination import Page
from memory.webhooks import Delivery

T = TypeVar("T", bound=BaseModel)


# What a vector search may return: None for everything; a set of ids for exactly those (the
# index may plan with it: a small set is scanned exactly); or a per-id predicate.
Allow = Optional[Union[Set[MemoryId], Callable[[MemoryId], bool]]]


class ScopeIds(frozenset):  # type: ignore[type-arg]
    """An allowed set made for one scope, named by `scope`: an index may keep what it derives
    from a scope's set (the labels of its ids) and, when the scope's next set comes after adds,
    extend that instead of starting over (2,000 ids: ~0.85 ms looked up afresh)."""

    __slots__ = ("scope",)

    def __new__(cls, ids: Iterable[MemoryId], scope: Hashable) -> "ScopeIds":
        made = super().__new__(cls, ids)
        made.scope = scope
        return made


def admitted(allow: Allow, id: MemoryId) -> bool:
    """Whether `allow` lets `id` through."""
    if allow is None:
        return True
    return id in allow if isinstance(allow, Set) else allow(id)


@dataclass(frozen=True, slots=True)
class EmbedderState:
    """What an embedder says about itself without being asked to embed anything, so health can
    tell "busy but progressing" from "stuck" even while the model is saturated."""

    loaded: bool  # the model is in memory and has run its warm-up pass
    alive: bool  # its worker accepts work (not closed)
    queued: int = 0  # texts waiting for a pass
    stalled_s: float = 0.0  # seconds without progress while work is running or queued
    last_batch: int | None = None  # texts in the last finished pass
    last_batch_ms: float | None = None


BatchHook = Callable[[int, float], None]  # (texts in one model call, seconds it took)


# the most entities one neighbourhood answer holds: a hub with thousands of links stays cheap to read
NEIGHBOURHOOD_LIMIT = 1000

class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str], owner: str = "") -> Vector:
        """Shape (len(texts), dimension); row i embeds texts[i]. `owner` (a scope's tenant) lets a
        shared model queue serve owners in turn, so one owner's large request cannot starve others."""
        ...

    async def warmup(self) -> None:
        """Load the model and run one pass now, so the first request pays for neither."""
        ...

    def state(self) -> EmbedderState:
        """The current state, read without queueing any work."""
        ...

    def observe_batches(self, hook: BatchHook) -> None:
        """Call `hook` after every model call (metrics); replaces any earlier hook."""
        ...


class LLM(Protocol):
    """A chat model that answers with JSON validated against a pydantic model."""

    async def complete_json(self, messages: Sequence[Message], schema: type[T]) -> T:
        """Raises memory.errors.ProviderError on transport errors or output not matching `schema`."""
        ...


class Vision(Protocol):
    """A vision-capable chat model that says what an image shows."""

    async def describe(self, image_url: str) -> str:
        """A description of the image at `image_url` (http(s) or a data URI). Raises
        memory.errors.ProviderError when the model fails or answers nothing usable."""
        ...


class Reranker(Protocol):
    """Scores documents against a query with a model that reads both (a cross-encoder)."""

    async def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document, in the documents' order (higher is more relevant).
        Raises memory.errors.ProviderError when the service fails or answers out of shape."""
        ...


class VectorIndex(Protocol):
    """Approximate nearest-neighbour index over memory embeddings (cosine).

    Derived from SQL: it can be rebuilt at any time from the memory rows."""

    @property
    def dimension(self) -> int: ...

    async def upsert(self, items: Sequence[tuple[MemoryId, Vector]]) -> None: ...

    async def remove(self, ids: Sequence[MemoryId]) -> None: ...

    async def nearest(
        self, query: Vector, k: int, allow: Allow = None, *, exact: bool = True, prepared: object = None
    ) -> list[tuple[MemoryId, float]]:
        """Up to k (id, similarity) pairs, best first; similarity = 1 - cosine distance.
        Only allowed ids are returned (and count towards k). `exact=False` lets the index rank
        and score from a compressed copy of its vectors (similarities within ~2e-3): for
        candidates whose final scores are read again with `similarities`. `prepared`: what
        `prepare(allow)` returned for this search."""
        ...

    @property
    def scan_max(self) -> int:
        """The largest allowed set that `prepare` prepares anything for (0: none)."""
        ...

    async def prepare(self, allow: Allow) -> object:
        """A search over `allow` comes next, its query still being embedded: the index may do
        now whatever part of that `nearest` needs no query, and hands it back for the search to
        pass to `nearest` (which answers the same with it or without it, whatever was written
        meanwhile)."""
        ...

    async def similarities(
        self, query: Vector, ids: Sequence[MemoryId], *, exact: bool = True
    ) -> dict[MemoryId, float]:
        """Similarity of `query` to each known id's vector (unknown ids are left out); `exact`
        as for `nearest`."""
        ...

    async def ids(self) -> set[MemoryId]: ...

    async def count(self) -> int: ...

    async def arrange(self, order: Sequence[MemoryId]) -> None:
        """A hint: `order` lists the ids (one owner's together) in the order that searches of
        one scope would best read them. The index may lay out what it scans accordingly, or do
        nothing; its answers do not change."""
        ...

    async def clear(self) -> None: ...

    async def save(self, checkpoint: int) -> None:
        """Persist atomically (temp file + rename) together with `checkpoint`."""
        ...

    async def settled(self) -> None:
        """Returns once the index has finished what it builds in the background after a bulk
        load (answering every search meanwhile), so that a save need not wait for it."""
        ...

    def building(self) -> tuple[int, int] | None:
        """While such a background build runs: (vectors it has done, of how many); else None."""
        ...

    async def load(self) -> int | None:
        """Load the persisted index; returns its checkpoint, or None when absent or unusable
        (the index is then empty and the caller rebuilds it)."""
        ...


class Order(StrEnum):
    CREATED_ASC = "created_asc"
    CREATED_DESC = "created_desc"
    UPDATED_ASC = "updated_asc"
    UPDATED_DESC = "updated_desc"


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Keyset position: the ordering timestamp and id of the last row seen."""

    at: datetime
    id: MemoryId


@dataclass
class ChangeSet:
    """Everything one core operation writes to SQL, committed in one transaction."""

    writes: list[StoredMemory] = field(default_factory=list)  # insert or replace whole rows
    deletes: list[MemoryId] = field(default_factory=list)  # hard-delete rows
    # a write whose id has an ADD entry here is a memory that did not exist before this commit
    # (the repository writes its derived indexes without looking for older entries)
    history: list[HistoryEntry] = field(default_factory=list)
    graph_work: list[GraphWork] = field(default_factory=list)  # outbox rows
    # erase: the text of these memories' earlier history entries and their pending graph work go
    erased: list[MemoryId] = field(default_factory=list)
    # erase a whole scope: also the history text of its memories deleted earlier (prefix match)
    erased_scope: Scope | None = None
    # webhook deliveries of this change's events (memory.webhooks.IN_COMMIT); an erase also deletes
    # the deliveries about the erased memories / scope
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """What the core keeps in memory per memory id to filter searches quickly."""

    id: MemoryId
    scope: Scope
    valid: bool
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TextRow:
    """What the in-memory word and mention index keeps of one memory (memory/text_index.py)."""

    id: MemoryId
    scope: Scope
    valid: bool
    text: str
    created_at: datetime
    expires_at: datetime | None = None
    mentions: tuple[str, ...] | None = None  # the mention index's keys; None: derive them from the text


class TextSearch(Protocol):
    """The lexical and mention channels of search: SQL's derived indexes (the repository) or
    the in-memory index built from them (memory.text_index.TextIndex)."""

    async def lexical_search(
        self, scope: Scope, terms: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[tuple[MemoryId, float]]: ...

    async def mention_counts(
        self, scope: Scope, keys: Sequence[str], include_invalidated: bool = False
    ) -> dict[str, int]: ...

    async def mentioning(
        self, scope: Scope, keys: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[MemoryId]: ...

    async def mentions(self, ids: Sequence[MemoryId]) -> dict[MemoryId, list[str]]: ...


class MemoryRepository(Protocol):
    """SQL source of truth: memory rows, history, and the graph outbox."""

    async def commit(self, change: ChangeSet) -> int:
        """Write the change set in one transaction. History entries get increasing seqs;
        every written memory row records the highest seq of this commit. Returns that seq
        (or the current max seq when no history is written)."""
        ...

    async def get(self, id: MemoryId) -> MemoryRecord | None: ...

    async def get_many(self, ids: Sequence[MemoryId], *, recent: bool = False) -> dict[MemoryId, MemoryRecord]:
        """The known ids' rows. `recent`: rows this process read lately may answer (searches);
        they are never older than this process's own last write, but another replica's write
        shows only once this process has followed it. Without it, every row is read fresh."""
        ...

    async def get_many_with_embeddings(
        self, ids: Sequence[MemoryId], *, recent: bool = False
    ) -> tuple[dict[MemoryId, MemoryRecord], dict[MemoryId, Vector]]:
        """`get_many`'s rows and, for the rows read from the database in that same read, their
        stored embeddings (rows answered from the recent ones have none here)."""
        ...

    async def find_by_hash(self, scope: Scope, hash: str) -> MemoryRecord | None:
        """A valid memory owned by exactly `scope` with that text hash."""
        ...

    async def list_page(
        self,
        scope: Scope | None,
        *,
        order: Order,
        after: PageCursor | None,
        limit: int,
        include_invalidated: bool,
    ) -> list[MemoryRecord]:
        """Keyset page ordered by (timestamp, id); scope None = every memory."""
        ...

    async def ids_in_scope(self, scope: Scope, include_invalidated: bool) -> list[MemoryId]: ...

    async def lexical_search(
        self, scope: Scope, terms: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[tuple[MemoryId, float]]:
        """Up to k memories inside the read scope `scope` whose text contains any of `terms`
        (lower-case words), best first, with a relevance score (higher is better; comparable only
        within one call). Served by a full-text index kept in the memory row's transaction."""
        ...

    # The mention index: the entity keys each memory's text names (memory.mentions.mentioned),
    # derived from the text and kept in the memory row's transaction, like the full-text index.
    async def mention_counts(
        self, scope: Scope, keys: Sequence[str], include_invalidated: bool = False
    ) -> dict[str, int]:
        """How many memories inside the read scope `scope` name each key (keys none names are absent)."""
        ...

    async def mentioning(
        self, scope: Scope, keys: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[MemoryId]:
        """Up to k memories inside the read scope `scope` that name any of `keys`: those naming
        more of them first, then the newest."""
        ...

    async def mentions(self, ids: Sequence[MemoryId]) -> dict[MemoryId, list[str]]:
        """The keys each memory names, sorted (memories that name none are absent)."""
        ...

    async def history(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[HistoryEntry]]:
        """History per memory id, ordered by seq (includes ids of deleted memories)."""
        ...

    # Feedback: one row per memory; a memory's deletion (ChangeSet.deletes) and reset remove it.
    async def put_feedback(self, memory_id: MemoryId, feedback: Feedback | None) -> bool:
        """Store (or, with None, clear) the feedback on a memory, in one transaction that checks
        the memory row still exists. Returns whether it did."""
        ...

    async def feedback(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, Feedback]:
        """The feedback given on these memories (those without any are absent)."""
        ...

    async def changed_since(self, seq: int, limit: int) -> list[tuple[int, MemoryId]]:
        """(seq, memory id) of history entries after `seq`, oldest first: what other
        processes sharing the database changed."""
        ...

    async def catalog(self, after: MemoryId | None = None, limit: int | None = None) -> list[CatalogRow]:
        """Every memory's owners, validity and expiry; with `limit`, a page of them by id after
        `after` (the scope catalog is loaded from these, memory.catalog.ScopeCatalog.fill)."""
        ...

    async def text_rows(self, after: MemoryId | None, limit: int) -> list[TextRow]:
        """A page of every memory's text, owners and mention keys, by id after `after` (the
        in-memory text index is built from these)."""
        ...

    async def embeddings_since(
        self, seq: int, *, after: MemoryId | None = None, limit: int | None = None
    ) -> list[tuple[MemoryId, Vector]]:
        """Rows written by commits with seq > `seq` (for index replay), ordered by id;
        `after`/`limit` page through them so a rebuild never holds every vector at once."""
        ...

    async def embeddings(self, ids: Sequence[MemoryId]) -> dict[MemoryId, Vector]: ...

    async def max_seq(self) -> int: ...

    async def count(self, include_invalidated: bool = True) -> int: ...

    async def reset(self) -> None:
        """Delete every memory, history entry, feedback and outbox row."""
        ...

    # graph outbox
    async def pending_graph_work(self, limit: int) -> list[GraphWork]: ...

    async def complete_graph_work(self, ids: Sequence[str]) -> None: ...

    async def record_graph_failure(self, ids: Sequence[str], error: str) -> None: ...

    async def outbox_size(self) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class ExportStore(Protocol):
    """Export jobs in SQL, so that every replica sees a job and its result, and both outlive a restart."""

    async def put_export(self, job: ExportJob) -> None:
        """Insert the job, or replace the stored one with the same id."""
        ...

    async def get_export(self, id: str) -> ExportJob | None: ...

    async def latest_export(self, scope: Scope) -> ExportJob | None:
        """The newest job whose scope is exactly `scope`."""
        ...

    async def fail_stale_exports(self, before: datetime, error: str, at: datetime) -> int:
        """Mark failed the queued or running jobs whose heartbeat is older than `before`; returns how many."""
        ...

    async def prune_exports(self, before: datetime) -> int:
        """Delete the jobs created before `before`; returns how many."""
        ...

    async def delete_exports(self, scope: Scope) -> int:
        """Delete the jobs that may hold memories of `scope`: those whose every scope field is
        unset or equal to `scope`'s where `scope` sets it; returns how many."""
        ...


class GraphStore(Protocol):
    """Entities and typed relations (a Neo4j-compatible graph over Bolt)."""

    async def setup(self) -> None:
        """Create constraints and indexes idempotently."""
        ...

    async def apply(self, batch: Sequence[GraphWork]) -> dict[str, GraphWriteResult]:
        """Apply a batch of work in as few round trips as possible; result per work id.
        Idempotent: applying the same work again adds nothing new."""
        ...

    async def has_relations(self, scope: Scope) -> bool:
        """Whether any relation (valid or not) lies within `scope`."""
        ...

    async def relations_for(
        self, scope: Scope, names: Sequence[str], include_invalid: bool = False, limit: int = 100,
        as_of: datetime | None = None,
    ) -> list[Relation]:
        """Relations touching any of the named entities (normalised names) within scope: those
        that hold now, or at `as_of` (Relation.holds_at), or every one with `include_invalid`."""
        ...

    async def neighbourhood(
        self, scope: Scope, name: str, depth: int, as_of: datetime | None = None
    ) -> tuple[list[Entity], list[Relation]]:
        """Entities within `depth` (1..3) hops of `name` (at most NEIGHBOURHOOD_LIMIT, `name` first
        among them) over the relations that hold now (or held at `as_of`), and those relations
        between them (at most 4 x NEIGHBOURHOOD_LIMIT)."""
        ...

    async def entities(
        self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None
    ) -> Page[Entity]:
        """A page ordered by name; `after` is a cursor of an earlier page (the store's own format)."""
        ...

    async def relations(
        self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None
    ) -> Page[Relation]:
        """A page of those that hold now (held at `query.as_of`; every one with
        `query.include_invalid`), oldest first; `after` is a cursor of an earlier page."""
        ...

    async def entity_embeddings(self, scope: Scope) -> dict[str, Vector]:
        """Names and embeddings of the entities owned by exactly `scope`."""
        ...

    async def invalidate_relation(
        self, scope: Scope, source: str, relation: str, destination: str, at: datetime
    ) -> list[Relation]:
        """Mark matching valid relations invalid; returns those changed."""
        ...

    async def delete_scope(self, scope: Scope) -> None: ...

    async def erase_memories(self, memory_ids: Sequence[MemoryId]) -> None:
        """Forget these memories for real: their ids leave every relation, relations no other
        memory states are deleted, and entities left without relations too."""
        ...

    async def delete_memory_relations(self, memory_ids: Sequence[MemoryId], at: datetime) -> list[Relation]:
        """Invalidate the valid relations that were derived from these memories."""
        ...

    async def relations_by_memory(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[Relation]]:
        """Relations (valid or not) derived from each memory."""
        ...

    async def reset(self) -> None: ...

    async def counts(self) -> tuple[int, int]:
        """(entities, valid relations)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
