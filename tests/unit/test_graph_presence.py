"""A search in a scope without any graph asks the graph server nothing about the query's names;
a relation added there (here or on another replica) makes the next search ask again."""
from __future__ import annotations

import asyncio

import pytest

from memory.errors import StoreUnavailable
from memory.events import EventKind, MemoryEvent
from memory.graph_presence import GraphPresence
from memory.models import Message, Relation, Scope, utcnow
from memory.service import MemoryService
from tests.fakes.graph import InMemoryGraph

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def count_lookups(graph: InMemoryGraph, method: str = "relations_for") -> list[Scope]:
    """The scopes `graph.<method>` is asked about, in order."""
    asked: list[Scope] = []
    real = getattr(graph, method)

    async def recorded(scope: Scope, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(scope)
        return await real(scope, *args, **kwargs)

    setattr(graph, method, recorded)
    return asked


async def test_a_scope_without_relations_is_searched_without_a_graph_lookup(
    service: MemoryService, graph: InMemoryGraph
) -> None:
    asked = count_lookups(graph)
    await service.add([Message("user", "Caroline likes hiking")], BOB, infer=False)
    for _ in range(3):
        result = await service.search("Caroline hiking", BOB)
        assert result.hits and result.relations == []
    assert asked == []


async def test_a_relation_added_in_the_scope_is_found_by_the_next_search(
    service: MemoryService, graph: InMemoryGraph
) -> None:
    asked = count_lookups(graph)
    assert (await service.search("where does alice work", ALICE)).relations == []
    await service.add_relation(ALICE, "alice", "WORKS_AT", "acme")
    found = await service.search("does alice work at acme", ALICE)
    assert [(r.source, r.relation, r.destination) for r in found.relations] == [("alice", "WORKS_AT", "acme")]
    assert asked == [ALICE]


async def test_another_replicas_relation_ends_a_no_graph_verdict(graph: InMemoryGraph) -> None:
    now = [0.0]
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: now[0])
    assert not await presence.has_relations(ALICE)
    rel = Relation("alice", "KNOWS", "bob", Scope("alice", "agent-1"), utcnow())
    graph.relations_.append(rel)
    assert not await presence.has_relations(ALICE)  # still the cached verdict
    presence.saw(MemoryEvent(EventKind.RELATION_ADDED, rel.scope, None, relation=rel))
    assert await presence.has_relations(ALICE)


async def test_a_no_graph_verdict_expires(graph: InMemoryGraph) -> None:
    now = [0.0]
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: now[0])
    assert not await presence.has_relations(ALICE)
    graph.relations_.append(Relation("alice", "KNOWS", "bob", ALICE, utcnow()))  # an outbox drain: no event
    now[0] = 29.0
    assert not await presence.has_relations(ALICE)
    now[0] = 31.0
    assert await presence.has_relations(ALICE)



async def settle() -> None:
    """Let background look-ups (no real I/O in the fake) run to their done callbacks."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_graph_without_any_relation_answers_every_scope_with_one_lookup(
    service: MemoryService, graph: InMemoryGraph
) -> None:
    asked = count_lookups(graph, "has_relations")
    users = [Scope(user_id=f"user{i}") for i in range(5)]
    for scope in users:
        await service.add([Message("user", "Caroline likes hiking")], scope, infer=False)
    for scope in users:
        result = await service.search("Caroline hiking", scope)
        assert result.hits and result.relations == []
    assert asked == [Scope()]  # the whole graph's verdict, not one look-up per scope


async def test_a_relation_anywhere_sends_scopes_back_to_their_own_lookup(graph: InMemoryGraph) -> None:
    asked = count_lookups(graph, "has_relations")
    graph.relations_.append(Relation("bob", "KNOWS", "carol", BOB, utcnow()))
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: 0.0)
    assert not await presence.has_relations(ALICE)
    assert await presence.has_relations(BOB)
    assert not await presence.has_relations(ALICE)  # kept
    assert asked == [Scope(), ALICE, BOB]


async def test_the_whole_graph_verdict_is_renewed_before_it_lapses(graph: InMemoryGraph) -> None:
    now = [0.0]
    asked = count_lookups(graph, "has_relations")
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: now[0])
    assert not await presence.has_relations(ALICE)
    now[0] = 25.0  # in the verdict's last third: answered at once, renewed in the background
    assert not await presence.has_relations(BOB)
    await settle()  # the renewal runs
    assert asked == [Scope(), Scope()]
    now[0] = 40.0  # past the first verdict, inside the renewed one: nobody waits for a look-up
    graph.down = True  # and the graph server is not even asked
    assert not await presence.has_relations(ALICE)
    assert asked == [Scope(), Scope()]


async def test_a_relation_seen_during_the_whole_graph_lookup_is_not_forgotten(graph: InMemoryGraph) -> None:
    release = asyncio.Event()

    async def slow_has_relations(scope: Scope) -> bool:
        answer = any(scope.contains(r.scope) for r in graph.relations_)  # read before the relation lands
        await release.wait()
        return answer

    graph.has_relations = slow_has_relations  # type: ignore[method-assign]
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: 0.0)
    searching = asyncio.create_task(presence.has_relations(ALICE))
    await settle()  # the look-up has read the graph and waits
    rel = Relation("alice", "KNOWS", "bob", ALICE, utcnow())
    graph.relations_.append(rel)
    presence.saw(MemoryEvent(EventKind.RELATION_ADDED, rel.scope, None, relation=rel))
    release.set()
    assert not await searching  # that search raced the write
    assert await presence.has_relations(ALICE)  # the next one does not keep the stale "none"


async def test_a_failed_renewal_leaves_the_next_search_to_ask(graph: InMemoryGraph) -> None:
    now = [0.0]
    presence = GraphPresence(graph, ttl_s=30, clock=lambda: now[0])
    assert not await presence.has_relations(ALICE)
    graph.down = True
    now[0] = 25.0
    assert not await presence.has_relations(ALICE)  # the renewal fails in the background
    await settle()
    now[0] = 31.0
    with pytest.raises(StoreUnavailable):
        await presence.has_relations(ALICE)
    graph.down = False
    graph.relations_.append(Relation("alice", "KNOWS", "bob", ALICE, utcnow()))
    assert await presence.has_relations(ALICE)
