"""A search in a scope without any graph asks the graph server nothing about the query's names;
a relation added there (here or on another replica) makes the next search ask again."""
from __future__ import annotations

from memory.events import EventKind, MemoryEvent
from memory.graph_presence import GraphPresence
from memory.models import Message, Relation, Scope, utcnow
from memory.service import MemoryService
from tests.fakes.graph import InMemoryGraph

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def count_lookups(graph: InMemoryGraph) -> list[Scope]:
    asked: list[Scope] = []
    real = graph.relations_for

    async def relations_for(scope: Scope, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(scope)
        return await real(scope, *args, **kwargs)

    graph.relations_for = relations_for  # type: ignore[method-assign]
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

