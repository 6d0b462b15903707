"""Two services on one PostgreSQL database with their own vector indexes: a memory written
through one is found through the other after the follower's next round."""
from __future__ import annotations

import asyncio
from pathlib import Path

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.models import Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from vector.hnsw import HnswIndex


async def test_writes_through_one_replica_are_found_through_the_other(pg_url: str, tmp_path: Path) -> None:
    services = [
        MemoryService(SqlMemoryRepository(create_engine(pg_url)), HnswIndex(tmp_path / name, dimension=384),
                      HashingEmbedder(384), options=ServiceOptions(sync_interval_s=0.1))
        for name in ("a", "b")
    ]
    for s in services:
        await s.start()
    a, b = services
    try:
        added = await a.add([Message("user", "Prefers window seats on long flights")], Scope("alice"), infer=False)
        id = added.results[0].id
        for _ in range(50):
            hits = (await b.search("window seats", Scope("alice"))).hits
            if hits:
                break
            await asyncio.sleep(0.1)
        assert [h.record.id for h in hits] == [id]
        await b.delete(id)
        for _ in range(50):
            if not (await a.search("window seats", Scope("alice"))).hits:
                break
            await asyncio.sleep(0.1)
        assert (await a.search("window seats", Scope("alice"))).hits == []
    finally:
        for s in services:
            await s.stop()
            await s._repo.close()
