"""Export and import with the real stores (SQLite or PostgreSQL, the embedded graph server):
a round trip is lossless, importing again adds nothing, and importing into a deployment that
already holds the data adds nothing either."""
from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.bootstrap import open_stores, service_context
from app.commands import transfer_io as transfer
from app.commands.transfer_codec import vector_json
from app.settings import GraphSettings, Settings
from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore
from memory.models import FeedbackRating, Message, Scope
from memory.ranking import SearchMode
from memory.service import MemoryService
from memory.vector_space import VectorSpaceMismatch
from vector.hnsw import HnswIndex

ALICE, BOB = Scope(user_id="alice"), Scope(user_id="bob", agent_id="helper")


def settings_for(data_dir: Path, bolt: EmbeddedArcadeDB, database_url: str | None = None) -> Settings:
    user, password = bolt.auth
    return Settings(
        data_dir=data_dir, database_url=database_url, auth={"mode": "development"},
        graph=GraphSettings(uri=bolt.uri, user=user, password=password, database=bolt.database),
    )


async def drained(service: MemoryService) -> None:
    async with asyncio.timeout(30):
        while (await service.counts())["outbox"]:
            await asyncio.sleep(0.05)


async def populate(service: MemoryService) -> None:
    """A bit of everything: inferred facts and relations, metadata, an update, a delete (history
    only), an immutable memory, a relation retired by an exclusive one, a relation invalidated by hand, two owners."""
    await service.add([Message("user", "I live in Paris. I work at Acme.")], ALICE, metadata={"source": "chat", "n": 1})
    await service.add([Message("user", "I moved to Lyon in 2024.")], ALICE)  # LIVES_IN is exclusive: Paris retires
    kept = (await service.add([Message("user", "Remember the blue door")], ALICE, infer=False)).results[0]
    await service.update(kept.id, text="Remember the red door", metadata={"colour": "red"})
    await service.give_feedback(kept.id, FeedbackRating.NEGATIVE, "the door is green", actor="key-1")
    gone = (await service.add([Message("user", "A passing thought")], ALICE, infer=False)).results[0]
    await service.delete(gone.id)
    jazz = (await service.add([Message("user", "I like jazz")], BOB, metadata={"tags": ["music"]})).results[0]
    await service.give_feedback(jazz.id, FeedbackRating.POSITIVE)
    await service.add([Message("user", "My blood type is O+")], BOB, infer=False, immutable=True)
    await service.add_relation(BOB, "bob", "KNOWS", "carol")
    await service.invalidate_relation(BOB, "bob", "KNOWS", "carol")
    await drained(service)


async def exported(settings: Settings, scope: Scope | None = None) -> list[dict[str, Any]]:
    out = io.StringIO()
    await transfer.export(settings, out, scope)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["kind"] == "header" and rows[-1]["kind"] == "footer"
    rows[0].pop("exported_at")
    return rows


async def imported(settings: Settings, rows: list[dict[str, Any]]) -> transfer.Counts:
    counts, complete = await transfer.import_lines(settings, [json.dumps(r) for r in rows])
    assert complete
    return counts


@pytest.mark.slow
async def test_export_import_round_trip_is_lossless_and_idempotent(
    sql_url: str, tmp_path: Path, bolt_server: EmbeddedArcadeDB, graph_store: Neo4jGraphStore
) -> None:
    """The target is an empty SQLite or PostgreSQL database (sql_url runs both)."""
    source = settings_for(tmp_path / "source", bolt_server)
    async with service_context(source) as service:
        await populate(service)
    original = await exported(source)
    kinds = [r["kind"] for r in original]
    assert kinds.count("memory") == 7 and kinds.count("entity") >= 5 and kinds.count("relation") >= 4
    deleted = [r for r in original if r["kind"] == "memory" and r["record"] is None]
    assert len(deleted) == 1 and [h["event"] for h in deleted[0]["history"]] == ["ADD", "DELETE"]
    assert [r["record"]["text"] for r in original if r["kind"] == "memory" and r["record"] and r["record"]["immutable"]
            ] == ["My blood type is O+"]
    relations = [r for r in original if r["kind"] == "relation"]
    assert any(not r["valid"] for r in relations if r["relation"] == "LIVES_IN")
    assert any(not r["valid"] for r in relations if r["relation"] == "KNOWS")
    assert [r["valid_from"] for r in relations if r["destination"] == "lyon"] == ["2024-01-01T00:00:00+00:00"]
    feedback = {r["record"]["text"]: r["feedback"] for r in original if r["kind"] == "memory" and r.get("feedback")}
    assert {text: (f["rating"], f["reason"]) for text, f in feedback.items()} == {
        "Remember the red door": ("NEGATIVE", "the door is green"), "I like jazz": ("POSITIVE", None)}
    assert original[-1]["counts"]["feedback"] == 2

    await graph_store.reset()  # the target deployment starts with an empty graph
    target = settings_for(tmp_path / "target", bolt_server, sql_url)
    counts = await imported(target, original)
    assert (counts.memories, counts.deleted, counts.feedback, counts.skipped) == (6, 1, 2, {})
    saved = HnswIndex(tmp_path / "target" / "index", dimension=target.embedder.dimension)
    assert await saved.load() is not None and await saved.count() == 6  # the next start loads the import's index
    await saved.close()
    assert await exported(target) == original  # lossless, in the same order

    again = await imported(target, original)
    assert again.skipped == {"memory (id exists)": 7} and again.memories == 0
    assert await exported(target) == original  # no duplicates anywhere

    into_source = await imported(source, original)  # a deployment that already has it all
    assert into_source.memories == 0
    assert await exported(source) == original

    async with service_context(target) as service:  # the index was rebuilt from the import
        hits = await service.search("which door", ALICE, limit=1)
        assert hits.hits[0].record.text == "Remember the red door"
        blood = (await service.search("blood type", BOB, limit=1)).hits[0].record
        assert (blood.text, blood.immutable) == ("My blood type is O+", True)


@pytest.mark.slow
async def test_a_scoped_export_holds_only_that_owner(
    tmp_path: Path, bolt_server: EmbeddedArcadeDB, graph_store: Neo4jGraphStore
) -> None:
    settings = settings_for(tmp_path / "data", bolt_server)
    async with service_context(settings) as service:
        await populate(service)
    rows = await exported(settings, Scope(user_id="bob"))
    owners = {json.dumps(r.get("scope") or (r.get("record") or {}).get("scope")) for r in rows[1:-1]}
    owners |= {r.get("user_id") for r in rows if r["kind"] in ("entity", "relation")}
    assert {o for o in owners if o and "alice" in o} == set()
    assert rows[-1]["counts"]["memories"] == 2 and rows[-1]["counts"]["relations"] >= 1  # jazz, blood type


async def test_import_refuses_another_dimension_and_reports_truncation(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))
    header = {"kind": "header", "format": "agentmem-export", "version": 1, "dimension": 768}
    with pytest.raises(Exception, match="768-dimensional"):
        await transfer.import_lines(settings, [json.dumps(header)])
    counts, complete = await transfer.import_lines(settings, [json.dumps({**header, "dimension": 384})])
    assert not complete and counts.memories == 0


async def test_another_models_memories_are_refused_at_open_and_embedded_again_by_an_import(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new", graph=GraphSettings(enabled=False))
    async with service_context(settings) as service:  # a new store takes the fixed-range int8 model
        await service.add([Message("user", "Remember the blue door")], ALICE, infer=False)
        await service.add([Message("user", "I like jazz")], ALICE, infer=False)
    rows = await exported(settings)
    assert rows[0]["vector_space"] == {"model": "all-MiniLM-L6-v2", "dimension": 384, "weights": "int8-static"}

    wide = settings.model_copy(update={"embedder": settings.embedder.model_copy(update={"quantized": False})})
    with pytest.raises(VectorSpaceMismatch, match=r"by all-MiniLM-L6-v2 \(384 dimensions, int8-static weights\).*"
                                                  r"for all-MiniLM-L6-v2 \(384 dimensions, float32 weights\)"):
        async with open_stores(wide):
            pass
    async with open_stores(settings) as stores:  # the record is unchanged: unset weights follow it
        assert stores.settings.embedder.quantized is True

    # a file from another model (of another dimension, too): its texts are embedded again by this
    # deployment's model; its vectors, which this index could not even hold, are not read. The first
    # memory appears twice (imported once), so each text must still get its own vector
    rows[0]["vector_space"] = {"model": "another-model", "dimension": 768, "weights": "float32"}
    memories = [r for r in rows if r["kind"] == "memory"]
    for memory in memories:
        memory["embedding"] = vector_json(np.ones(768, dtype=np.float32))
    rows.insert(rows.index(memories[0]) + 1, dict(memories[0]))
    target = Settings(data_dir=tmp_path / "target", graph=GraphSettings(enabled=False))
    assert (await imported(target, rows)).memories == 2
    async with service_context(target) as service:
        for text in ("Remember the blue door", "I like jazz"):
            hit = (await service.search(text, ALICE, limit=1, mode=SearchMode.VECTOR)).hits[0]
            assert hit.record.text == text and hit.score > 0.999


@pytest.mark.slow
async def test_an_import_of_another_models_export_embeds_entity_names_again(
    tmp_path: Path, bolt_server: EmbeddedArcadeDB, graph_store: Neo4jGraphStore
) -> None:
    source = settings_for(tmp_path / "source", bolt_server)
    async with service_context(source) as service:
        await service.add_relation(ALICE, "alice", "WORKS_AT", "acme corporation")
    rows = await exported(source)
    rows[0]["vector_space"] = {"model": "another-model", "dimension": 768, "weights": "float32"}
    for row in rows:
        if row["kind"] == "entity":
            row["embedding"] = [1.0] * 768
    await graph_store.reset()
    target = settings_for(tmp_path / "target", bolt_server)
    await imported(target, rows)
    names = await graph_store.entity_embeddings(ALICE)
    assert sorted(names) == ["acme corporation", "alice"] and {v.shape for v in names.values()} == {(384,)}
    async with service_context(target) as service:  # a new mention is matched against the re-embedded names
        await service.add_relation(ALICE, "alice", "LIKES", "acme corp")
    assert sorted(await graph_store.entity_embeddings(ALICE)) == ["acme corporation", "alice"]
