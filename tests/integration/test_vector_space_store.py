"""SqlVectorSpaceStore on SQLite and PostgreSQL: the record reads back as written and is
replaced, and `holds_memories` follows the memories table (a deleted memory keeps history, no vector)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from history.vector_space import SqlVectorSpaceStore
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
