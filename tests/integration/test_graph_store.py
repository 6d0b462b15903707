"""Neo4jGraphStore against a real Bolt server (embedded ArcadeDB): no mocks."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from graph.cypher import checked_type
from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore
from memory.errors import InvalidInput, StoreUnavailable
from memory.models import GraphQuery, GraphWork, Relation, Scope, Triple, new_id

ALICE = Scope(user_id="alice")
ALICE_A1 = Scope(user_id="alice", agent_id="a1")
ALICE_A2 = Scope(user_id="alice", agent_id="a2")
BOB = Scope(user_id="bob")
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
INJECTION = "KNOWS]->(x) DETACH DELETE x //"


def work(
    scope: Scope,
    *triples: tuple[str, str, str],
    memory_id: str | None = None,
    exclusive: frozenset[str] = frozenset(),
    at: datetime = T0,
    embeddings: dict[str, tuple[float, ...]] | None = None,
) -> GraphWork:
    return GraphWork(
        id=new_id(),
        scope=scope,
        triples=tuple(Triple(s, r, d) for s, r, d in triples),
        memory_id=memory_id,
        created_at=at,
        entity_embeddings=embeddings or {},
        exclusive_relations=exclusive,
    )


def edges(relations: list[Relation]) -> set[tuple[str, str, str]]:
    return {(r.source, r.relation, r.destination) for r in relations}


async def test_apply_normalises_and_is_idempotent(graph_store: Neo4jGraphStore) -> None:
    w = work(ALICE, ("  Alice   Smith ", "works at", "ACME"), ("alice smith", "Knows", "Bob"), memory_id="m1")
    first = await graph_store.apply([w])
    assert edges(list(first[w.id].added)) == {
        ("alice smith", "WORKS_AT", "acme"),
        ("alice smith", "KNOWS", "bob"),
    }
    added = first[w.id].added[0]
    assert added.scope == ALICE and added.created_at == T0 and added.memory_id == "m1" and added.valid

    second = await graph_store.apply([w])
    assert second[w.id].added == () and second[w.id].invalidated == ()
    # the same fact stated by another work in another call is not duplicated either
    again = await graph_store.apply([work(ALICE, ("alice smith", "works-at", "acme"))])
    assert all(r.added == () for r in again.values())
    assert await graph_store.counts() == (3, 2)


async def test_restated_invalidated_relation_becomes_a_new_valid_one(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply([work(ALICE, ("alice", "likes", "tea"))])
    gone = await graph_store.invalidate_relation(ALICE, "Alice", "LIKES", "tea", T0 + timedelta(hours=1))
    assert [(r.valid, r.invalidated_at) for r in gone] == [(False, T0 + timedelta(hours=1))]
    assert await graph_store.invalidate_relation(ALICE, "alice", "likes", "tea", T0) == []

    later = T0 + timedelta(days=1)
    result = await graph_store.apply([w := work(ALICE, ("alice", "likes", "tea"), at=later)])
    assert [r.created_at for r in result[w.id].added] == [later]
    history = await graph_store.relations_for(ALICE, ["alice"], include_invalid=True)
    assert sorted((r.valid, r.created_at) for r in history) == [(False, T0), (True, later)]
    newest = await graph_store.relations_for(ALICE, ["alice"], include_invalid=True, limit=1)
    assert [(r.valid, r.created_at) for r in newest] == [(True, later)]  # most recent first
    assert await graph_store.counts() == (2, 1)


async def test_exclusive_relation_invalidates_other_destinations_of_the_same_owner(
    graph_store: Neo4jGraphStore,
) -> None:
    await graph_store.apply(
        [
            work(ALICE, ("alice", "lives in", "paris"), ("alice", "likes", "paris")),
            work(BOB, ("alice", "lives in", "rome")),
        ]
    )
    w = work(
        ALICE, ("alice", "lives in", "london"), exclusive=frozenset({"lives in"}), at=T0 + timedelta(days=1)
    )
    result = (await graph_store.apply([w]))[w.id]
    assert edges(list(result.added)) == {("alice", "LIVES_IN", "london")}
    assert [(r.destination, r.valid, r.invalidated_at) for r in result.invalidated] == [
        ("paris", False, T0 + timedelta(days=1))
    ]
    assert edges(await graph_store.relations_for(ALICE, ["alice"])) == {
        ("alice", "LIVES_IN", "london"),
        ("alice", "LIKES", "paris"),  # another type: untouched
    }
    assert edges(await graph_store.relations_for(BOB, ["alice"])) == {("alice", "LIVES_IN", "rome")}
    # stating the current destination again invalidates nothing
    assert (await graph_store.apply([w]))[w.id].invalidated == ()


async def test_exclusive_rows_in_one_batch_apply_in_order(graph_store: Neo4jGraphStore) -> None:
    only = frozenset({"LIVES_IN"})
    w1 = work(ALICE, ("alice", "lives_in", "paris"), exclusive=only)
    w2 = work(ALICE, ("alice", "lives_in", "london"), exclusive=only, at=T0 + timedelta(seconds=1))
    result = await graph_store.apply([w1, w2])
    assert edges(list(result[w1.id].added)) == {("alice", "LIVES_IN", "paris")}
    assert edges(list(result[w2.id].added)) == {("alice", "LIVES_IN", "london")}
    assert edges(list(result[w2.id].invalidated)) == {("alice", "LIVES_IN", "paris")}
    assert edges(await graph_store.relations_for(ALICE, ["alice"])) == {("alice", "LIVES_IN", "london")}


async def test_a_batch_that_moves_back_and_forth_reports_every_step(graph_store: Neo4jGraphStore) -> None:
    only = frozenset({"LIVES_IN"})
    steps = [("paris", 0), ("london", 1), ("paris", 2)]
    works = [
        work(ALICE, ("alice", "lives in", city), exclusive=only, at=T0 + timedelta(seconds=s))
        for city, s in steps
    ]
    result = await graph_store.apply(works)
    assert [[r.destination for r in result[w.id].added] for w in works] == [["paris"], ["london"], ["paris"]]
    assert [[r.destination for r in result[w.id].invalidated] for w in works] == [[], ["paris"], ["london"]]
    history = await graph_store.relations_for(ALICE, ["alice"], include_invalid=True)
    assert sorted((r.destination, r.valid) for r in history) == [
        ("london", False),
        ("paris", False),
        ("paris", True),
    ]


async def test_a_retraction_retires_the_matching_relation_and_creates_nothing(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply([work(ALICE, ("alice", "WORKS_AT", "initech")), work(BOB, ("alice", "WORKS_AT", "initech"))])
    retract = GraphWork(new_id(), ALICE, (Triple("alice", "WORKS_AT", "initech", negated=True),
                                          Triple("alice", "WORKS_AT", "nowhere", negated=True)), None, T0 + timedelta(hours=1))
    result = (await graph_store.apply([retract]))[retract.id]
    assert result.added == () and [(r.destination, r.valid, r.invalidated_at) for r in result.invalidated] == [
        ("initech", False, T0 + timedelta(hours=1))
    ]
    assert (await graph_store.relations(ALICE, GraphQuery(), 10, None)).items == []
    assert edges((await graph_store.relations(BOB, GraphQuery(), 10, None)).items) == {("alice", "WORKS_AT", "initech")}
    names = {e.name for e in (await graph_store.entities(ALICE, GraphQuery(), 10, None)).items}
    assert "nowhere" not in names
    # restated after a retraction in the same batch, in order: valid again
    again = [work(ALICE, ("alice", "WORKS_AT", "initech")),
             GraphWork(new_id(), ALICE, (Triple("alice", "WORKS_AT", "initech", negated=True),), None, T0),
             work(ALICE, ("alice", "WORKS_AT", "initech"))]
    await graph_store.apply(again)
    assert edges((await graph_store.relations(ALICE, GraphQuery(), 10, None)).items) == {("alice", "WORKS_AT", "initech")}


async def test_valid_from_is_stored_and_read_back(graph_store: Neo4jGraphStore) -> None:
    since = datetime(2019, 1, 1, tzinfo=UTC)
    w = GraphWork(new_id(), ALICE, (Triple("alice", "LIVES_IN", "madrid", valid_from=since),
                                    Triple("alice", "LIKES", "tea")), "m1", T0)
    added = (await graph_store.apply([w]))[w.id].added
    assert {(r.destination, r.valid_from) for r in added} == {("madrid", since), ("tea", None)}
    stored = (await graph_store.relations(ALICE, GraphQuery(), 10, None)).items
    assert {(r.destination, r.valid_from) for r in stored} == {("madrid", since), ("tea", None)}
    later = GraphWork(new_id(), ALICE, (Triple("alice", "LIKES", "tea", valid_from=since),), "m2", T0)
    await graph_store.apply([later])  # a start stated later fills in an unknown one
    stored = (await graph_store.relations(ALICE, GraphQuery(relation="LIKES"), 10, None)).items
    assert [r.valid_from for r in stored] == [since]


async def test_reads_use_prefix_scopes(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply(
        [
            work(ALICE_A1, ("alice", "knows", "bob")),
            work(ALICE_A2, ("alice", "knows", "carol")),
            work(BOB, ("alice", "knows", "dave")),
        ]
    )
    assert edges(await graph_store.relations_for(ALICE, ["alice"])) == {
        ("alice", "KNOWS", "bob"),
        ("alice", "KNOWS", "carol"),
    }
    assert edges(await graph_store.relations_for(ALICE_A1, ["ALICE"])) == {("alice", "KNOWS", "bob")}
    assert edges(await graph_store.relations_for(Scope(agent_id="a2"), ["carol"])) == {
        ("alice", "KNOWS", "carol")
    }
    assert edges(await graph_store.relations_for(BOB, ["bob", "carol"])) == set()
    assert edges(await graph_store.relations_for(ALICE, ["", "  "])) == set()
    everyone = (await graph_store.entities(None, GraphQuery(), 100, None)).items
    assert len(everyone) == 6
    assert {e.scope for e in (await graph_store.entities(ALICE, GraphQuery(), 100, None)).items} == {
        ALICE_A1,
        ALICE_A2,
    }
    assert len((await graph_store.relations(None, GraphQuery(), 100, None)).items) == 3
    assert {r.scope for r in (await graph_store.relations(ALICE, GraphQuery(), 100, None)).items} == {
        ALICE_A1,
        ALICE_A2,
    }


async def test_neighbourhood_follows_valid_relations_up_to_depth(graph_store: Neo4jGraphStore) -> None:
    chain = [("a", "next", "b"), ("b", "next", "c"), ("c", "next", "d"), ("d", "next", "e")]
    await graph_store.apply(
        [work(ALICE, *chain, ("a", "knows", "z"), ("b", "knows", "z"), ("x", "next", "a"))]
    )
    await graph_store.invalidate_relation(ALICE, "x", "next", "a", T0)
    expected = {1: {"a", "b", "z"}, 2: {"a", "b", "c", "z"}, 3: {"a", "b", "c", "d", "z"}}
    for depth, names in expected.items():
        entities, relations = await graph_store.neighbourhood(ALICE, "A", depth)
        assert {e.name for e in entities} == names, depth
        # the valid relations among them, including b->z, which no depth-1 path from a uses
        assert {(r.source, r.destination) for r in relations} == {
            (s, d)
            for s, _, d in [*chain, ("a", "knows", "z"), ("b", "knows", "z")]
            if s in names and d in names
        }
    assert await graph_store.neighbourhood(BOB, "a", 2) == ([], [])
    assert await graph_store.neighbourhood(ALICE, "nobody", 1) == ([], [])
    for bad in (0, 4, -1, True):
        with pytest.raises(InvalidInput):
            await graph_store.neighbourhood(ALICE, "a", bad)


async def test_entities_pages_cover_everything_once(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply([work(ALICE_A1, *[(f"n{i:02d}", "next", f"n{i + 1:02d}") for i in range(24)])])
    # the same name owned twice must not be skipped at a page boundary
    await graph_store.apply([work(ALICE_A2, ("n09", "is", "shared"))])
    seen: list[tuple[str, Scope]] = []
    after, more = None, True
    while more:
        page = await graph_store.entities(ALICE, GraphQuery(), 10, after)
        seen += [(e.name, e.scope) for e in page.items]
        after, more = page.end_cursor, page.has_next
    assert len(seen) == len(set(seen)) == 27
    assert [name for name, _ in seen] == sorted(name for name, _ in seen)
    assert ("n09", ALICE_A2) in seen and ("n09", ALICE_A1) in seen


async def test_relations_pages_with_cursor_and_filters(graph_store: Neo4jGraphStore) -> None:
    works = [
        work(ALICE, (f"p{i:02d}", "knows" if i % 2 else "likes", "hub"), at=T0 + timedelta(minutes=i // 3))
        for i in range(20)
    ]
    await graph_store.apply(works)
    seen: list[Relation] = []
    after, more = None, True
    while more:
        page = await graph_store.relations(ALICE, GraphQuery(), 7, after)
        seen += page.items
        after, more = page.end_cursor, page.has_next
    assert len(seen) == 20 and len(edges(seen)) == 20
    assert [(r.created_at, r.source) for r in seen] == sorted((r.created_at, r.source) for r in seen)
    knows = (await graph_store.relations(ALICE, GraphQuery(relation="Knows"), 100, None)).items
    assert len(knows) == 10 and {r.relation for r in knows} == {"KNOWS"}
    assert edges((await graph_store.relations(None, GraphQuery(name_contains=" P07"), 100, None)).items) == {
        ("p07", "KNOWS", "hub")
    }
    hubs = (await graph_store.entities(ALICE, GraphQuery(name_contains="HU"), 100, None)).items
    assert [e.name for e in hubs] == ["hub"]
    likers = (await graph_store.entities(ALICE, GraphQuery(relation="likes"), 100, None)).items
    assert len(likers) == 11  # ten sources and the hub
    with pytest.raises(InvalidInput):
        await graph_store.relations(ALICE, GraphQuery(), 10, "not a cursor")


async def test_entity_type_is_kept_and_filterable(graph_store: Neo4jGraphStore) -> None:
    first = GraphWork(new_id(), ALICE, (Triple("alice", "works_at", "acme"),), None, T0)
    typed = GraphWork(
        new_id(), ALICE, (Triple("alice", "works_at", "acme", "Person", "organisation"),), None, T0
    )
    await graph_store.apply([first, typed])
    people = (await graph_store.entities(ALICE, GraphQuery(entity_type="person"), 10, None)).items
    assert [(e.name, e.type) for e in people] == [("alice", "person")]
    assert ((await graph_store.entities(ALICE, GraphQuery(name_contains="acme"), 10, None)).items)[
        0
    ].type == "organisation"


async def test_relation_types_are_validated_before_reaching_cypher(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply([work(ALICE, ("alice", "knows", "bob"))])
    for relation in (INJECTION, "KNOWS`]->(x)", "knows {a:1}", "", "1ST", "X" * 65, "owns\n]->(x)"):
        with pytest.raises(InvalidInput):
            await graph_store.apply([work(ALICE, ("alice", relation, "bob"))])
    with pytest.raises(InvalidInput):
        await graph_store.invalidate_relation(ALICE, "alice", INJECTION, "bob", T0)
    with pytest.raises(InvalidInput):
        (await graph_store.relations(ALICE, GraphQuery(relation=INJECTION), 10, None)).items
    with pytest.raises(InvalidInput):
        await graph_store.apply([work(ALICE, ("alice", "knows", "bob"), exclusive=frozenset({INJECTION}))])
    with pytest.raises(InvalidInput):
        checked_type("KNOWS\n")  # the last gate before the text: a trailing newline fails too
    with pytest.raises(InvalidInput):  # a write needs an owner
        await graph_store.apply([work(Scope(), ("alice", "knows", "bob"))])
    # a bad row anywhere in a batch writes nothing at all
    with pytest.raises(InvalidInput):
        await graph_store.apply([work(ALICE, ("carol", "knows", "dan")), work(ALICE, ("x", INJECTION, "y"))])
    assert await graph_store.counts() == (2, 1)


async def test_entity_embeddings_round_trip_for_the_exact_owner(graph_store: Neo4jGraphStore) -> None:
    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    w = work(ALICE_A1, ("alice", "knows", "bob"), embeddings={"Alice": tuple(float(x) for x in vector)})
    await graph_store.apply([w])
    stored = await graph_store.entity_embeddings(ALICE_A1)
    assert list(stored) == ["alice"]
    assert stored["alice"].dtype == np.float32 and stored["alice"].shape == (384,)
    np.testing.assert_array_equal(stored["alice"], vector)
    assert await graph_store.entity_embeddings(ALICE) == {}  # an owner, not a prefix
    assert await graph_store.entity_embeddings(ALICE_A2) == {}


async def test_delete_scope_removes_the_prefix_only(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply(
        [
            work(ALICE_A1, ("alice", "knows", "bob")),
            work(ALICE_A2, ("alice", "knows", "eve")),
            work(BOB, ("bob", "knows", "alice")),
        ]
    )
    await graph_store.delete_scope(ALICE)
    assert await graph_store.counts() == (2, 1)
    assert edges((await graph_store.relations(None, GraphQuery(), 10, None)).items) == {("bob", "KNOWS", "alice")}
    with pytest.raises(InvalidInput):
        await graph_store.delete_scope(Scope())


async def test_memory_relations_follow_the_memories_that_stated_them(graph_store: Neo4jGraphStore) -> None:
    await graph_store.apply(
        [
            work(ALICE, ("alice", "knows", "bob"), ("alice", "likes", "tea"), memory_id="m1"),
            work(ALICE, ("alice", "knows", "bob"), memory_id="m2"),
        ]
    )
    by_memory = await graph_store.relations_by_memory(["m1", "m2", "m3"])
    assert edges(by_memory["m1"]) == {("alice", "KNOWS", "bob"), ("alice", "LIKES", "tea")}
    assert edges(by_memory["m2"]) == {("alice", "KNOWS", "bob")}
    assert by_memory["m3"] == []
    assert {r.memory_id for r in by_memory["m1"]} == {"m1"}  # the first memory that stated it

    at = T0 + timedelta(hours=2)
    gone = await graph_store.delete_memory_relations(["m1"], at)
    # KNOWS is still stated by m2
    assert [(r.relation, r.valid, r.invalidated_at) for r in gone] == [("LIKES", False, at)]
    assert edges(await graph_store.relations_for(ALICE, ["alice"])) == {("alice", "KNOWS", "bob")}
    assert edges(await graph_store.delete_memory_relations(["m2"], at)) == {("alice", "KNOWS", "bob")}
    assert await graph_store.delete_memory_relations(["m1", "m2"], at) == []
    assert await graph_store.counts() == (3, 0)
    still = await graph_store.relations_by_memory(["m1"])
    assert {(r.relation, r.valid) for r in still["m1"]} == {("KNOWS", False), ("LIKES", False)}


async def test_concurrent_applies_lose_nothing_and_duplicate_nothing(
    graph_store: Neo4jGraphStore, bolt_server: EmbeddedArcadeDB
) -> None:
    # a second store with its own pool stands for another process racing this one; it also
    # lets its own writes overlap, so MERGE races and MVCC conflicts go through the retries
    rival = Neo4jGraphStore(bolt_server.uri, bolt_server.auth, bolt_server.database, max_concurrent_writes=4)
    people = [f"person{i}" for i in range(6)]
    works = [
        work(
            ALICE,
            *[(people[(i + j) % 6], "knows", people[(i + j + 1) % 6]) for j in range(3)],
            memory_id=f"m{i}",
        )
        for i in range(40)
    ]
    try:
        results = await asyncio.gather(
            *((graph_store if i % 2 else rival).apply([w]) for i, w in enumerate(works))
        )
    finally:
        await rival.close()
    assert await graph_store.counts() == (6, 6)
    added = [r for result in results for res in result.values() for r in res.added]
    assert len(added) == 6 and len(edges(added)) == 6  # each relation credited exactly once
    by_memory = await graph_store.relations_by_memory([f"m{i}" for i in range(40)])
    assert sum(len(v) for v in by_memory.values()) == 120  # no memory's statement was lost


async def test_reset_and_ping(graph_store: Neo4jGraphStore) -> None:
    await graph_store.ping()
    await graph_store.apply([work(ALICE, ("a", "b", "c"))])
    await graph_store.reset()
    assert await graph_store.counts() == (0, 0)
    assert await graph_store.apply([]) == {}


@pytest.mark.slow
async def test_calls_raise_store_unavailable_when_the_server_stops(tmp_path: Path) -> None:
    async with EmbeddedArcadeDB(data_dir=tmp_path / "db", database="outage") as server:
        store = Neo4jGraphStore(server.uri, server.auth, server.database)
        await store.setup()
        await store.apply([work(ALICE, ("alice", "knows", "bob"))])
        await server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        assert caught.value.component == "graph"
        with pytest.raises(StoreUnavailable):
            await store.apply([work(ALICE, ("alice", "knows", "carol"))])
        with pytest.raises(StoreUnavailable):
            await store.relations_for(ALICE, ["alice"])
        assert time.monotonic() - started < 10  # fails fast: no long driver-level retry loop
        await store.close()
