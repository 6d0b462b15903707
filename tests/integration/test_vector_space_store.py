"""SqlVectorSpaceStore on SQLite and PostgreSQL: the record reads back as written and is
replaced, and `holds_memories` follows the memories table (a deleted memory keeps history, no vector)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from history.vector_space import SqlVectorSpaceStore
from history.vector_space_tables import vector_space
from memory.models import MemoryRecord, Scope, StoredMemory, new_id, text_hash, utcnow
from memory.ports import ChangeSet
from memory.vector_space import VectorSpace


@pytest.fixture
async def both(sql_url: str) -> AsyncIterator[tuple[SqlVectorSpaceStore, SqlMemoryRepository]]:
    engine = create_engine(sql_url)
    repo = SqlMemoryRepository(create_engine(sql_url))
    try:
        yield SqlVectorSpaceStore(engine), repo
    finally:
        await repo.close()
        await engine.dispose()


async def test_the_record_reads_back_and_is_replaced(both: tuple[SqlVectorSpaceStore, SqlMemoryRepository]) -> None:
    store, _ = both
    assert await store.stored_vector_space() is None
    await store.record_vector_space(VectorSpace("all-MiniLM-L6-v2", 384))
    assert await store.stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384, "float32")
    await store.record_vector_space(VectorSpace("text-embedding-3-small", 1536, "float32"))
    assert await store.stored_vector_space() == VectorSpace("text-embedding-3-small", 1536)


async def test_holds_memories_once_one_is_stored_until_none_is(both: tuple[SqlVectorSpaceStore, SqlMemoryRepository]) -> None:
    store, repo = both
    assert not await store.holds_memories()
    now = utcnow()
    rec = MemoryRecord(new_id(), "the blue door", text_hash("the blue door"), Scope(user_id="alice"), {}, now, now)
    await repo.commit(ChangeSet(writes=[StoredMemory(rec, np.ones(16, dtype=np.float32))]))
    assert await store.holds_memories()
    await repo.commit(ChangeSet(deletes=[rec.id]))
    assert not await store.holds_memories()


async def test_a_record_inserted_meanwhile_by_another_replica_stands(pg_url: str) -> None:
    engine = create_engine(pg_url)
    store = SqlVectorSpaceStore(engine)
    try:
        async with engine.connect() as other:  # another replica's first record, not committed yet
            await other.execute(vector_space.insert().values(id="default", model="all-MiniLM-L6-v2", dimension=384,
                                                               weights="float32", recorded_at=utcnow()))
            recording = asyncio.create_task(store.record_vector_space(VectorSpace("all-MiniLM-L6-v2", 384, "int8")))
            async with asyncio.timeout(10):  # until this store's insert waits on the other's row
                while not await _waiting(engine):
                    await asyncio.sleep(0.01)
            await other.commit()
        await recording  # lost the race without an error
        assert await store.stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384, "float32")
    finally:
        await engine.dispose()


async def _waiting(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database()"))).scalar())
