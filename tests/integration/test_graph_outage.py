"""Stop the Bolt server during adds: adds keep succeeding, graph work waits in the outbox, and
the outbox drains once the server is back."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.models import GraphQuery, Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from vector.hnsw import HnswIndex

pytestmark = pytest.mark.slow
ALICE = Scope(user_id="alice")


async def test_outbox_drains_after_the_graph_server_comes_back(tmp_path: Path, sqlite_url: str) -> None:
    server = EmbeddedArcadeDB(tmp_path / "graph", database="outage", password="outage-pass-1")
    await server.start()
    repo = SqlMemoryRepository(create_engine(sqlite_url))
    graph = Neo4jGraphStore(server.uri, server.auth, server.database, max_attempts=1, connection_timeout_s=1)
    await graph.setup()
    service = MemoryService(
        repo, HnswIndex(tmp_path / "index", dimension=384), HashingEmbedder(384), graph=graph,
        # the first write meets a cold JVM (seconds under load); writes during the outage fail fast
        # (connection refused), not by this timeout
        options=ServiceOptions(graph_write_timeout_s=30, graph_drain_interval_s=0.2, graph_max_backoff_s=0.5),
    )
    await service.start()
    try:
        first = await service.add([Message("user", "I work at Acme.")], ALICE)
        assert not first.graph_pending and len(first.relations_added) == 1

        await server.stop()
        during = [await service.add([Message("user", f"Person{i} knows Friend{i}.")], ALICE) for i in range(5)]
        assert all(r.graph_pending and r.results[0].event.value == "ADD" for r in during)
        assert await repo.outbox_size() == 5
        hits = await service.search("Person3 knows Friend3", ALICE, limit=1)
        assert hits.hits[0].record.text == "Person3 knows Friend3." and hits.relations == []

        await server.start()  # same data dir, same ports
        for _ in range(150):
            if await repo.outbox_size() == 0:
                break
            await asyncio.sleep(0.2)
        assert await repo.outbox_size() == 0
        knows = (await service.relations(ALICE, GraphQuery(relation="KNOWS"), 50, None)).items
        assert sorted(r.source for r in knows) == [f"person{i}" for i in range(5)]
    finally:
        await service.stop()
        await graph.close()
        await repo.close()
        await server.stop()
