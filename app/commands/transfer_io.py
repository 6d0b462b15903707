"""What `python -m app export` and `python -m app import` do (app/commands/transfer.py).

Both open the stores through the composition root (bootstrap.open_stores: SQL, the index, and
the graph: the embedded server when no graph.uri is set) without starting the service, so run
them while the service is stopped when the graph is embedded, and restart the service's replicas
after an import: each one loads its vector index and scope catalog at start.

Import is idempotent by id: a memory whose id exists (or whose history exists, for a deleted
one) is skipped whole; graph rows merge (graph/dump.py); queued graph work is keyed by its id.
History entries get fresh sequence numbers in the target (their order is kept)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from app import bootstrap
from app.commands import transfer_codec as codec
from app.settings import Settings
from graph import dump as graph_dump
from history import dump as sql_dump
from history import migrate
from history.repository import SqlMemoryRepository
from memory.errors import InvalidInput
from memory.index_keeper import IndexKeeper
from memory.models import Feedback, MemoryRecord, Scope, StoredMemory, utcnow
from memory.ports import ChangeSet, Embedder, Order, PageCursor
from memory.vector_space import VectorSpace

PAGE = 500
GRAPH_FLUSH_ROWS = 5000


@dataclass
class Counts:
    memories: int = 0
    deleted: int = 0
    history: int = 0
    entities: int = 0
    relations: int = 0
    graph_work: int = 0
    feedback: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, kind: str, n: int = 1) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + n


def _line(out: TextIO, kind: str, data: dict[str, Any]) -> None:
    out.write(json.dumps({"kind": kind, **data}, ensure_ascii=False, separators=(",", ":")) + "\n")


async def export(settings: Settings, out: TextIO, scope: Scope | None = None) -> Counts:
    counts = Counts()
    async with bootstrap.open_stores(settings) as stores:
        engine, repo, graph = stores.engine, stores.repo, stores.graph
        _line(out, "header", {
            "format": codec.FORMAT, "version": codec.VERSION, "schema": await migrate.current(settings.sql_url()),
            "exported_at": utcnow().isoformat(), "scope": codec.scope_json(scope) if scope else None,
            "dimension": settings.embedder.dimension,
            # the one open_stores settled: the stored memories are in it
            "vector_space": asdict(stores.settings.embedder.vector_space()),
        })
        after: PageCursor | None = None
        while True:
            page = await repo.list_page(scope, order=Order.CREATED_ASC, after=after, limit=PAGE, include_invalidated=True)
            if not page:
                break
            await _memories(out, repo, page, counts)
            after = PageCursor(page[-1].created_at, page[-1].id)
        deleted = await sql_dump.deleted_memory_ids(engine, scope)
        for start in range(0, len(deleted), PAGE):
            chunk = deleted[start:start + PAGE]
            for id, entries in (await repo.history(chunk)).items():
                _line(out, "memory", {"id": id, "record": None, "embedding": None,
                                      "history": [codec.history_json(h) for h in entries]})
                counts.deleted += 1
                counts.history += len(entries)
        for row in await sql_dump.outbox_rows(engine):
            if scope is None or scope.contains(codec.scope_from(row["payload"].get("scope"))):
                _line(out, "graph_work", row)
                counts.graph_work += 1
        if graph is not None:
            async for kind, row in graph_dump.dump(graph, scope):
                _line(out, kind, row)
                if kind == "entity":
                    counts.entities += 1
                else:
                    counts.relations += 1
        _line(out, "footer", {"counts": footer_counts(counts)})
    return counts


async def _memories(out: TextIO, repo: SqlMemoryRepository, page: list[MemoryRecord], counts: Counts) -> None:
    ids = [r.id for r in page]
    vectors = await repo.embeddings(ids)
    history = await repo.history(ids)
    feedback = await repo.feedback(ids)
    for rec in page:
        _line(out, "memory", {"id": rec.id, "record": codec.record_json(rec),
                              "embedding": codec.vector_json(vectors[rec.id]),
                              "history": [codec.history_json(h) for h in history[rec.id]],
                              "feedback": codec.feedback_json(feedback.get(rec.id))})
        counts.memories += 1
        counts.feedback += int(rec.id in feedback)
        counts.history += len(history[rec.id])


def footer_counts(counts: Counts) -> dict[str, int]:
    return {k: v for k, v in asdict(counts).items() if k != "skipped"}


class _Importer:
    def __init__(self, settings: Settings, stores: bootstrap.Stores) -> None:
        self.settings = settings
        self.engine, self.repo, self.graph = stores.engine, stores.repo, stores.graph
        self.counts = Counts()
        self.units: list[dict[str, Any]] = []
        self.entities: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.footer: dict[str, Any] | None = None
        # set by the header: the file's embeddings are of another model, so its texts are embedded again
        self.embedder: Embedder | None = None

    async def feed(self, number: int, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind == "header":
            if _check_header(data, self.settings) and self.embedder is None:
                self.embedder = bootstrap.build_embedder(self.settings)
        elif kind == "memory":
            self.units.append(data)
            if len(self.units) >= PAGE:
                await self.flush_memories()
        elif kind in ("entity", "relation"):
            if self.graph is None:
                self.counts.skip(kind + " (graph disabled)")
                return
            (self.entities if kind == "entity" else self.relations).append(data)
            if len(self.entities) + len(self.relations) >= GRAPH_FLUSH_ROWS:
                await self.flush_graph()
        elif kind == "graph_work":
            await sql_dump.restore_outbox(self.engine, [data])
            self.counts.graph_work += 1
        elif kind == "footer":
            self.footer = data
        else:
            raise InvalidInput(f"line {number}: unknown record type {kind!r}")

    async def flush_memories(self) -> None:
        units, self.units = self.units, []
        if not units:
            return
        ids = [u["id"] for u in units]
        existing = set(await self.repo.get_many(ids))
        existing |= {id for id, entries in (await self.repo.history(ids)).items() if entries}
        change = ChangeSet()
        feedback: list[Feedback] = []
        dimension = self.settings.embedder.dimension
        records: list[tuple[MemoryRecord, str]] = []  # with the file's embedding
        for unit in units:
            if unit["id"] in existing:
                self.counts.skip("memory (id exists)")
                continue
            existing.add(unit["id"])  # the same id twice in one file is imported once
            if unit.get("record") is not None:
                records.append((codec.record_from(unit["id"], unit["record"]), unit["embedding"]))
                self.counts.memories += 1
                if unit.get("feedback"):
                    feedback.append(codec.feedback_from(unit["id"], unit["feedback"]))
            else:
                self.counts.deleted += 1
            change.history += [codec.history_from(unit["id"], h) for h in unit.get("history") or ()]
        if self.embedder is None:
            change.writes = [StoredMemory(rec, codec.vector_from(vector, dimension)) for rec, vector in records]
        elif records:  # the file's vectors are of another model: its texts are embedded again
            vectors = await self.embedder.embed([rec.text for rec, _ in records])
            change.writes = [StoredMemory(rec, vector) for (rec, _), vector in zip(records, vectors)]
        self.counts.history += len(change.history)
        if change.writes or change.history:
            await self.repo.commit(change)
        for given in feedback:  # after the memory rows: feedback is kept only for memories that exist
            await self.repo.put_feedback(given.memory_id, given)
        self.counts.feedback += len(feedback)

    async def flush_graph(self) -> None:
        entities, relations = self.entities, self.relations
        self.entities, self.relations = [], []
        if self.embedder is not None and entities:  # entity matching compares name embeddings: one model's
            vectors = await self.embedder.embed([e["name"] for e in entities])
            entities = [{**e, "embedding": [float(x) for x in vector]} for e, vector in zip(entities, vectors)]
        await graph_dump.restore(self.graph, entities, relations)
        self.counts.entities += len(entities)
        self.counts.relations += len(relations)


def _check_header(data: dict[str, Any], settings: Settings) -> bool:
    """Whether the file's embeddings are of another vector space than the configured embedder's
    (its texts are then embedded again instead). Files written before the header named the space
    are taken to hold the configured one, as long as the dimension agrees."""
    if data.get("format") != codec.FORMAT or data.get("version") != codec.VERSION:
        raise InvalidInput(f"not an {codec.FORMAT} version {codec.VERSION} file (header: {data})")
    if data.get("vector_space") is not None:
        try:
            exported = VectorSpace(**data["vector_space"])
        except TypeError as exc:
            raise InvalidInput(f"the header's vector_space is not one: {data['vector_space']!r}") from exc
        return exported != settings.embedder.vector_space()
    if data.get("dimension") != settings.embedder.dimension:
        raise InvalidInput(f"the export holds {data.get('dimension')}-dimensional embeddings; this deployment "
                           f"uses {settings.embedder.dimension} (embedder.dimension)")
    return False


async def import_lines(settings: Settings, lines: Iterable[str]) -> tuple[Counts, bool]:
    """Returns the counts and whether the file was complete (it ended with its footer)."""
    async with bootstrap.open_stores(settings) as stores:
        repo, graph = stores.repo, stores.graph
        importer = _Importer(stores.settings, stores)
        try:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        data = json.loads(line)
                    except ValueError as exc:
                        raise InvalidInput(f"line {number} is not JSON: {exc}") from exc
                    await importer.feed(number, data)
            await importer.flush_memories()
            if graph is not None:
                await importer.flush_graph()
        finally:
            if importer.embedder is not None:
                await importer.embedder.aclose()  # type: ignore[attr-defined]
        if importer.counts.memories:
            # rows written by the import go into the saved index (memory/index_keeper.py), saved
            # again so that the next start loads it instead of doing that work itself
            keeper = IndexKeeper(stores.index, repo)
            await keeper.reconcile({row.id for row in await repo.catalog()})
            await keeper.snapshot()
        return importer.counts, importer.footer is not None
