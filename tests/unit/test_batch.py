"""Batch update / delete and immutable memories, on the service with in-memory fakes."""
from __future__ import annotations

import asyncio

import pytest

from memory.access import Principal, Role
from memory.batch import MemoryEdit
from memory.errors import BatchRejected, Immutable, InvalidInput, StoreUnavailable
from memory.events import EventKind
from memory.guarded import GuardedMemoryService
from memory.models import ChangeEvent, Message, Scope
from memory.service import MemoryService
from memory.validation import MAX_BATCH
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


async def raw(service: MemoryService, scope: Scope, *texts: str, immutable: bool = False) -> list[str]:
    result = await service.add([Message("user", t) for t in texts], scope, infer=False, immutable=immutable)
    return [c.id for c in result.results]


def count_commits(repo: InMemoryRepository) -> list[int]:
    calls: list[int] = []
    commit = repo.commit

    async def counted(change):  # type: ignore[no-untyped-def]
        calls.append(len(change.writes) + len(change.deletes))
        return await commit(change)

    repo.commit = counted  # type: ignore[method-assign]
    return calls


async def test_batch_update_changes_every_memory_in_one_commit_with_history_and_events(
        service: MemoryService, repo: InMemoryRepository) -> None:
    a, b = await raw(service, ALICE, "I like tea", "I live in Paris")
    commits = count_commits(repo)
    async with service.events.subscribe(ALICE) as stream:
        out = await service.update_many([MemoryEdit(a, text="I like green tea"),
                                         MemoryEdit(b, metadata={"source": "fix"})], actor="alice-key")
        events = [await asyncio.wait_for(anext(stream), 1) for _ in range(2)]
    assert commits == [2]
    assert [r.text for r in out] == ["I like green tea", "I live in Paris"]
    assert (await service.get(b)).metadata == {"source": "fix"}
    assert [(e.kind, e.memory_id) for e in events] == [(EventKind.UPDATE, a), (EventKind.UPDATE, b)]
    history = await service.history(a)
    assert [(h.event, h.old_text, h.new_text, h.actor) for h in history][-1] == (
        ChangeEvent.UPDATE, "I like tea", "I like green tea", "alice-key")
    # the new text is searchable by meaning: its vector was replaced too
    hits = await service.search("I like green tea", ALICE, limit=1)
    assert hits.hits[0].record.id == a


async def test_a_batch_update_with_any_bad_item_changes_nothing_and_names_each_bad_item(
        service: MemoryService, repo: InMemoryRepository) -> None:
    a, b = await raw(service, ALICE, "I like tea", "I live in Paris")
    frozen, = await raw(service, ALICE, "My blood type is O+", immutable=True)
    commits = count_commits(repo)
    with pytest.raises(BatchRejected) as caught:
        await service.update_many([
            MemoryEdit(a, text="I like coffee"),       # fine on its own
            MemoryEdit("nope", text="x"),              # missing
            MemoryEdit(b, text="   "),                 # empty text
            MemoryEdit(a, text="again"),               # repeated
            MemoryEdit(frozen, text="O-"),             # immutable
            MemoryEdit(b),                             # nothing to change
        ])
    assert commits == []
    assert [(i.index, i.memory_id, i.code) for i in caught.value.items] == [
        (1, "nope", "NOT_FOUND"), (2, b, "BAD_USER_INPUT"), (3, a, "BAD_USER_INPUT"), (4, frozen, "IMMUTABLE"),
        (5, b, "BAD_USER_INPUT")]
    assert caught.value.code == "BAD_USER_INPUT"  # mixed reasons
    assert "nothing was changed" in str(caught.value)
    assert (await service.get(a)).text == "I like tea"


async def test_a_batch_refused_for_one_reason_carries_that_reason_as_its_code(service: MemoryService) -> None:
    frozen, = await raw(service, ALICE, "My blood type is O+", immutable=True)
    with pytest.raises(BatchRejected) as caught:
        await service.update_many([MemoryEdit(frozen, metadata={"x": 1})])
    assert caught.value.code == "IMMUTABLE"
    with pytest.raises(BatchRejected) as caught:
        await service.delete_many(["gone-1", "gone-2"])
    assert caught.value.code == "NOT_FOUND" and [i.index for i in caught.value.items] == [0, 1]


async def test_batch_delete_removes_every_memory_in_one_commit_or_none(
        service: MemoryService, repo: InMemoryRepository) -> None:
    a, b, c = await raw(service, ALICE, "I like tea", "I live in Paris", "I have a cat")
    commits = count_commits(repo)
    with pytest.raises(BatchRejected) as caught:
        await service.delete_many([a, b, a])
    assert [(i.index, i.code) for i in caught.value.items] == [(2, "BAD_USER_INPUT")] and commits == []
    assert len(await service.get_many([a, b, c])) == 3
    async with service.events.subscribe(ALICE) as stream:
        gone = await service.delete_many([a, b], actor="alice-key")
        kinds = [(await asyncio.wait_for(anext(stream), 1)).kind for _ in range(2)]
    assert commits == [2] and kinds == [EventKind.DELETE, EventKind.DELETE]
    assert {r.id for r in gone} == {a, b}
    assert set(await service.get_many([a, b, c])) == {c}
    assert [h.event for h in await service.history(a)] == [ChangeEvent.ADD, ChangeEvent.DELETE]
    assert [h.record.id for h in (await service.search("I like tea", ALICE)).hits] == [c]


async def test_a_failed_commit_leaves_every_memory_of_the_batch_as_it_was(
        service: MemoryService, repo: InMemoryRepository) -> None:
    a, b = await raw(service, ALICE, "I like tea", "I live in Paris")
    repo.fail_next_commit = StoreUnavailable("sql")
    with pytest.raises(StoreUnavailable):
        await service.update_many([MemoryEdit(a, text="I like coffee"), MemoryEdit(b, text="I live in Rome")])
    assert [r.text for r in (await service.get_many([a, b])).values()] == ["I like tea", "I live in Paris"]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
async def test_batches_take_one_to_a_thousand_items(service: MemoryService, size: int) -> None:
    with pytest.raises(InvalidInput, match="1 to 1000 items"):
        await service.delete_many(["x"] * size)
    with pytest.raises(InvalidInput, match="1 to 1000 items"):
        await service.update_many([MemoryEdit("x", text="y")] * size)


async def test_a_user_cannot_batch_touch_another_users_memories(service: MemoryService) -> None:
    mine, = await raw(service, ALICE, "I like tea")
    theirs, = await raw(service, BOB, "I like coffee")
    alice = GuardedMemoryService(service, Principal("k1", Role.USER, user_id="alice"))
    for attempt in (alice.delete_many([mine, theirs]),
                    alice.update_many([MemoryEdit(mine, text="a"), MemoryEdit(theirs, text="b")])):
        with pytest.raises(BatchRejected) as caught:
            await attempt
        # the other user's memory reads as missing: its existence is not disclosed
        assert [(i.index, i.code) for i in caught.value.items] == [(1, "NOT_FOUND")]
    assert len(await service.get_many([mine, theirs])) == 2
    assert [r.text for r in await alice.update_many([MemoryEdit(mine, text="I like oolong")])] == ["I like oolong"]


async def test_an_immutable_memory_refuses_updates_but_can_be_deleted(service: MemoryService) -> None:
    frozen, = await raw(service, ALICE, "My blood type is O+", immutable=True)
    rec = await service.get(frozen)
    assert rec.immutable
    for change in ({"text": "O-"}, {"metadata": {"x": 1}}):
        with pytest.raises(Immutable, match="immutable"):
            await service.update(frozen, **change)
    assert (await service.get(frozen)).text == "My blood type is O+"
    await service.delete(frozen)
    assert await service.get_many([frozen]) == {}
    # added again, and not immutable this time, it can be changed
    again, = await raw(service, ALICE, "My blood type is O+")
    assert (await service.update(again, text="My blood type is O-")).text == "My blood type is O-"
