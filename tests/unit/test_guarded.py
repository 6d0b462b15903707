"""The access rule in the core: a user or agent credential never reaches another owner's data."""
from __future__ import annotations

import asyncio

import pytest

from memory.access import Principal, Role
from memory.errors import Forbidden, NotFound
from memory.filters import parse_filter
from memory.guarded import GuardedMemoryService
from memory.models import GraphQuery, Message, Scope
from memory.service import MemoryService

ALICE = Principal("key-a", Role.USER, user_id="alice")
BOB_SCOPE = Scope(user_id="bob")


@pytest.fixture
async def bobs_memory(service: MemoryService) -> str:
    result = await service.add([Message("user", "Bob knows Carol. I work at Initech.")], BOB_SCOPE)
    return result.results[0].id


@pytest.fixture
def as_alice(service: MemoryService) -> GuardedMemoryService:
    return GuardedMemoryService(service, ALICE)


async def test_another_users_memory_is_invisible_by_id(as_alice: GuardedMemoryService, bobs_memory: str, service: MemoryService) -> None:
    for call in (as_alice.get(bobs_memory), as_alice.update(bobs_memory, text="pwned"), as_alice.delete(bobs_memory),
                 as_alice.history(bobs_memory)):
        with pytest.raises(NotFound):
            await call
    assert await as_alice.get_many([bobs_memory]) == {}
    assert await as_alice.history_many([bobs_memory]) == {bobs_memory: []}
    assert (await service.get(bobs_memory)).text == "Bob knows Carol."


async def test_scopes_naming_another_user_are_refused(as_alice: GuardedMemoryService) -> None:
    for call in (as_alice.search("carol", BOB_SCOPE), as_alice.list_memories(BOB_SCOPE), as_alice.delete_all(BOB_SCOPE),
                 as_alice.add([Message("user", "x y z")], BOB_SCOPE), as_alice.neighbourhood(BOB_SCOPE, "bob", 2),
                 as_alice.entities(BOB_SCOPE, GraphQuery(), 10, None), as_alice.add_relation(BOB_SCOPE, "a", "KNOWS", "b")):
        with pytest.raises(Forbidden):
            await call


async def test_unscoped_and_filtered_reads_only_return_own_data(as_alice: GuardedMemoryService, bobs_memory: str) -> None:
    await as_alice.add([Message("user", "Alice knows Carol.")], Scope())  # scope filled from the credential
    everything = await as_alice.list_memories(None, filters=parse_filter({"user_id": "bob"}))
    assert everything.items == []
    mine = await as_alice.list_memories(None)
    assert [r.scope.user_id for r in mine.items] == ["alice"]
    found = await as_alice.search("knows carol", Scope())
    assert {h.record.scope.user_id for h in found.hits} == {"alice"}
    assert {r.source for r in found.relations} == {"alice"}
    assert {e.name for e in (await as_alice.entities(None, GraphQuery(), 50, None)).items} == {"alice", "carol"}
    assert all(r.scope.user_id == "alice" for r in (await as_alice.relations(None, GraphQuery(), 50, None)).items)


async def test_only_admins_reset(as_alice: GuardedMemoryService, service: MemoryService, bobs_memory: str) -> None:
    with pytest.raises(Forbidden):
        await as_alice.reset()
    await GuardedMemoryService(service, Principal("root", Role.ADMIN)).reset()
    with pytest.raises(NotFound):
        await service.get(bobs_memory)


async def test_agent_credentials_are_held_to_their_agent(service: MemoryService) -> None:
    agent = GuardedMemoryService(service, Principal("bot", Role.AGENT, user_id="alice", agent_id="planner"))
    added = await agent.add([Message("user", "Prefers window seats")], Scope(run_id="r1"), infer=False)
    rec = added.results[0].record
    assert (rec.scope.user_id, rec.scope.agent_id, rec.scope.run_id) == ("alice", "planner", "r1")
    other = await service.add([Message("user", "Prefers aisle seats")], Scope("alice", "booker"), infer=False)
    with pytest.raises(NotFound):
        await agent.get(other.results[0].id)
    with pytest.raises(Forbidden):
        await agent.list_memories(Scope(agent_id="booker"))


async def test_subscriptions_only_carry_own_events(as_alice: GuardedMemoryService, service: MemoryService) -> None:
    async with as_alice.subscribe(None) as stream:
        await service.add([Message("user", "secret of bob")], BOB_SCOPE, infer=False)
        await service.add([Message("user", "note of alice")], Scope("alice"), infer=False)
        event = await asyncio.wait_for(anext(stream), 1)
    assert event.scope.user_id == "alice" and event.memory.text == "note of alice"
    with pytest.raises(Forbidden):
        async with as_alice.subscribe(BOB_SCOPE):
            pass


async def test_owners_list_only_what_the_principal_may_see(as_alice: GuardedMemoryService, bobs_memory: str,
                                                           service: MemoryService) -> None:
    await service.add([Message("user", "I like tea.")], Scope(user_id="alice", agent_id="helper"), infer=False)
    mine = {(o.kind, o.id): o.memories for o in await as_alice.owners()}
    assert mine == {("user", "alice"): 1, ("agent", "helper"): 1}
    everyone = {(o.kind, o.id) for o in await GuardedMemoryService(service, Principal("root", Role.ADMIN)).owners()}
    assert ("user", "bob") in everyone
