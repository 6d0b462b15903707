"""Two processes sharing one SQL database: each picks up what the other wrote."""
from __future__ import annotations

from memory.models import Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")


async def test_a_replica_finds_what_another_wrote_and_forgets_what_it_deleted() -> None:
    shared = InMemoryRepository()
    a = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=ServiceOptions(sync_interval_s=0))
    b = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=ServiceOptions(sync_interval_s=0))
    await a.start()
    await b.start()
    added = await a.add([Message("user", "I like green tea")], ALICE, infer=False)
    assert (await b.search("green tea", ALICE)).hits == []  # not yet caught up
    assert await b.follower.catch_up() == 1
    assert [h.record.id for h in (await b.search("green tea", ALICE)).hits] == [added.results[0].id]

    await a.update(added.results[0].id, text="I like black coffee")
    await b.follower.catch_up()
    assert (await b.search("I like black coffee", ALICE)).hits[0].score > 0.99

    await a.delete(added.results[0].id)
    await b.follower.catch_up()
    assert (await b.search("black coffee", ALICE)).hits == []

    await b.add([Message("user", "note one")], ALICE, infer=False)
    await a.follower.catch_up()
    await a.reset()
    await b.follower.catch_up()  # history was wiped elsewhere: b resyncs wholesale
    assert (await b.list_memories(ALICE)).items == [] and (await b.search("note one", ALICE)).hits == []
    for s in (a, b):
        await s.stop()


async def test_a_replica_does_not_reapply_its_own_writes() -> None:
    shared = InMemoryRepository()
    a = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=ServiceOptions(sync_interval_s=0))
    b = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=ServiceOptions(sync_interval_s=0))
    await a.start()
    await b.start()
    for i in range(5):
        await a.add([Message("user", f"note {i}")], ALICE, infer=False)
    assert await a.follower.catch_up() == 0  # all its own
    await b.add([Message("user", "from b")], ALICE, infer=False)
    await a.add([Message("user", "note 5")], ALICE, infer=False)
    assert await a.follower.catch_up() == 1  # only b's memory
    assert await b.follower.catch_up() == 6
    for s in (a, b):
        await s.stop()
