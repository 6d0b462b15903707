"""Batch update and delete on the real SQL repository (SQLite and PostgreSQL): a full batch of
1,000 is one transaction, history lines for each memory; a refused batch writes nothing."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from history.repository import SqlMemoryRepository
from memory.batch import MemoryEdit
from memory.errors import BatchRejected
from memory.models import ChangeEvent, Message, Scope
from memory.service import MemoryService
from memory.validation import MAX_BATCH
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex

ALICE = Scope(user_id="alice")


@pytest.fixture
async def sql_service(repository: SqlMemoryRepository) -> AsyncIterator[MemoryService]:
    service = MemoryService(repository, BruteForceIndex(), HashingEmbedder())
    await service.start()
    yield service
    await service.stop()


async def test_a_thousand_updates_then_a_thousand_deletes_commit_whole(
        sql_service: MemoryService, repository: SqlMemoryRepository) -> None:
    added = await sql_service.add([Message("user", f"fact {i}") for i in range(200)], ALICE, infer=False)
    ids = [c.id for c in added.results]
    for start in range(200, MAX_BATCH, 200):  # an add takes at most 200 messages
        more = await sql_service.add([Message("user", f"fact {i}") for i in range(start, start + 200)], ALICE,
                                     infer=False)
        ids += [c.id for c in more.results]
    before = await repository.max_seq()
    updated = await sql_service.update_many([MemoryEdit(id, text=f"fact {i} revised") for i, id in enumerate(ids)])
    assert len(updated) == MAX_BATCH
    assert await repository.max_seq() == before + MAX_BATCH  # one history line per memory
    stored = await repository.get_many(ids)
    assert all(stored[id].text == f"fact {i} revised" for i, id in enumerate(ids))
    history = await repository.history([ids[0]])
    assert [h.event for h in history[ids[0]]] == [ChangeEvent.ADD, ChangeEvent.UPDATE]

    with pytest.raises(BatchRejected):
        await sql_service.delete_many([*ids[:10], "missing"])
    assert await repository.count() == MAX_BATCH
    await sql_service.delete_many(ids)
    assert await repository.count() == 0
    assert [h.event for h in (await repository.history([ids[-1]]))[ids[-1]]] == [
        ChangeEvent.ADD, ChangeEvent.UPDATE, ChangeEvent.DELETE]


async def test_an_immutable_memory_stays_immutable_in_sql(sql_service: MemoryService,
                                                           repository: SqlMemoryRepository) -> None:
    frozen = (await sql_service.add([Message("user", "Blood type O+")], ALICE, infer=False,
                                    immutable=True)).results[0].id
    with pytest.raises(BatchRejected) as caught:
        await sql_service.update_many([MemoryEdit(frozen, text="O-")])
    assert caught.value.code == "IMMUTABLE"
    record = await repository.get(frozen)
    assert record is not None and (record.text, record.immutable) == ("Blood type O+", True)
