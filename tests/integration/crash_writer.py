"""A writer process for the crash test: adds memories on the real stores and prints the id of
each acknowledged add, until it is killed.

    python -m tests.integration.crash_writer DATA_DIR SQL_URL BOLT_URI PASSWORD DATABASE USER_ID
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from graph.store import Neo4jGraphStore
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.models import Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from vector.hnsw import HnswIndex


def build(data_dir: Path, sql_url: str, uri: str, password: str, database: str, save_every_s: float) -> MemoryService:
    repo = SqlMemoryRepository(create_engine(sql_url))
    graph = Neo4jGraphStore(uri, ("root", password), database)
    return MemoryService(
        repo, HnswIndex(data_dir / "index", dimension=384), HashingEmbedder(384), graph=graph,
        options=ServiceOptions(graph_drain_interval_s=0.1, graph_max_backoff_s=0.5),
        index_save_interval_s=save_every_s,
    )


async def main(data_dir: str, sql_url: str, uri: str, password: str, database: str, user_id: str) -> None:
    service = build(Path(data_dir), sql_url, uri, password, database, save_every_s=0.05)
    await service.start()
    scope = Scope(user_id=user_id)
    i = 0
    while True:
        result = await service.add([Message("user", f"Person{i} works at Company{i}.")], scope)
        for change in result.results:
            print(change.id, flush=True)  # acknowledged: the caller has its answer
        i += 1


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
