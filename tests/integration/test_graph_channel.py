"""Hybrid search's graph channel and asOf through the real adapters: SQL (SQLite and PostgreSQL)
holds the mention index, ArcadeDB over Bolt the relations."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import AsyncIterator

import pytest

from graph.store import Neo4jGraphStore
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.models import GraphQuery, Message, Scope, utcnow
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from vector.hnsw import HnswIndex

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


@pytest.fixture
async def service(tmp_path: Path, sql_url: str, graph_store: Neo4jGraphStore) -> AsyncIterator[MemoryService]:
    repo = SqlMemoryRepository(create_engine(sql_url))
    svc = MemoryService(repo, HnswIndex(tmp_path / "index", dimension=256), HashingEmbedder(256), graph=graph_store,
                        options=ServiceOptions(graph_write_timeout_s=5))
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()
        await repo.close()


async def remember(service: MemoryService, text: str, scope: Scope = ALICE, infer: bool = False) -> str:
    return (await service.add([Message("user", text)], scope, infer=infer)).results[0].id


async def test_raw_memories_are_found_by_the_entities_they_name_and_one_hop_out(service: MemoryService) -> None:
    adopted = await remember(service, "Caroline adopted a puppy named Biscuit")
    chewed = await remember(service, "Biscuit chewed through the garden hose again")
    for i in range(6):
        await remember(service, f"Melanie went running by the lake, lap {i}")
    await remember(service, "Caroline and Biscuit live next door to me", BOB)
    hits = {h.record.id: h for h in (await service.search("How is Caroline doing?", ALICE, limit=10)).hits}
    assert {id for id, h in hits.items() if h.scores.graph is not None} == {adopted, chewed}
    assert 0 < hits[chewed].scores.graph < hits[adopted].scores.graph
    assert hits[chewed].scores.lexical is None


async def test_the_graph_relations_of_the_query_lead_one_hop_out(service: MemoryService) -> None:
    stated = await service.add([Message("user", "I live in Paris.")], ALICE)  # offline extractor
    assert [(r.source, r.relation, r.destination) for r in stated.relations_added] == [("alice", "LIVES_IN", "paris")]
    rainy = await remember(service, "Paris was rainy all week")
    await remember(service, "The cat sleeps on the sofa")
    hits = {h.record.id: h for h in (await service.search("Where do I live?", ALICE, limit=10)).hits}
    assert hits[rainy].scores.graph is not None and hits[rainy].scores.graph > 0


async def test_as_of_shows_paris_before_the_move_to_berlin(service: MemoryService) -> None:
    await service.add_relation(ALICE, "alice", "LIVES_IN", "Paris")
    before_move = utcnow()
    await service.add_relation(ALICE, "alice", "LIVES_IN", "Berlin")  # exclusive: Paris ends now

    def where(rels) -> list[tuple[str, bool]]:
        return sorted((r.destination, r.valid) for r in rels)

    assert where((await service.relations(ALICE, GraphQuery(as_of=before_move), 10, None)).items) == [("paris", False)]
    assert where((await service.relations(ALICE, GraphQuery(), 10, None)).items) == [("berlin", True)]
    hood = await service.neighbourhood(ALICE, "alice", 1, as_of=before_move)
    assert where(hood.relations) == [("paris", False)]
    later = (await service.relations(ALICE, GraphQuery(as_of=utcnow() + timedelta(seconds=1)), 10, None)).items
    assert where(later) == [("berlin", True)]
    [paris] = [r for r in (await service.relations(ALICE, GraphQuery(include_invalid=True), 10, None)).items
               if r.destination == "paris"]
    assert paris.valid_to is not None and paris.valid_to > before_move
    found = await service.search("where does alice live", ALICE, as_of=before_move)
    assert [r.destination for r in found.relations] == ["paris"]
