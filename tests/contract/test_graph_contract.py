from __future__ import annotations

from datetime import UTC, datetime

from memory.models import GraphQuery, GraphWork, Scope, Triple, new_id, utcnow

ALICE = Scope("alice")


def work(*triples: tuple[str, str, str], scope: Scope = ALICE, memory_id: str | None = None,
         exclusive: frozenset[str] = frozenset()) -> GraphWork:
    return GraphWork(new_id(), scope, tuple(Triple(*t) for t in triples), memory_id, utcnow(), {}, exclusive)


async def test_apply_is_idempotent(any_graph) -> None:
    w = work(("alice", "LIKES", "tea"), memory_id="m1")
    first = await any_graph.apply([w])
    again = await any_graph.apply([w])
    assert len(first[w.id].added) == 1 and again[w.id].added == ()
    assert len((await any_graph.relations(ALICE, GraphQuery(), 10, None)).items) == 1


async def test_exclusive_relations_invalidate_the_previous_destination(any_graph) -> None:
    await any_graph.apply([work(("alice", "LIVES_IN", "paris"), exclusive=frozenset({"LIVES_IN"}))])
    w = work(("alice", "LIVES_IN", "berlin"), exclusive=frozenset({"LIVES_IN"}))
    result = (await any_graph.apply([w]))[w.id]
    assert [r.destination for r in result.invalidated] == ["paris"]
    valid = (await any_graph.relations(ALICE, GraphQuery(), 10, None)).items
    assert [r.destination for r in valid] == ["berlin"]


async def test_reads_stay_inside_the_scope(any_graph) -> None:
    await any_graph.apply([work(("alice", "KNOWS", "bob")), work(("mallory", "KNOWS", "bob"), scope=Scope("mallory"))])
    rels = await any_graph.relations_for(ALICE, ["bob"])
    assert [(r.source, r.destination) for r in rels] == [("alice", "bob")]
    names = {e.name for e in (await any_graph.entities(ALICE, GraphQuery(), 10, None)).items}
    assert names == {"alice", "bob"}


async def test_memory_relations_are_invalidated_with_their_memory(any_graph) -> None:
    await any_graph.apply([work(("alice", "OWNS", "car"), memory_id="m9")])
    changed = await any_graph.delete_memory_relations(["m9"], utcnow())
    assert [r.valid for r in changed] == [False]
    assert await any_graph.relations_for(ALICE, ["car"]) == []
    assert len(await any_graph.relations_for(ALICE, ["car"], include_invalid=True)) == 1


async def test_a_relation_stated_by_two_memories_survives_until_both_are_deleted(any_graph) -> None:
    await any_graph.apply([work(("alice", "OWNS", "bike"), memory_id="m1")])
    await any_graph.apply([work(("alice", "OWNS", "bike"), memory_id="m2")])
    by_memory = await any_graph.relations_by_memory(["m1", "m2"])
    assert len(by_memory["m1"]) == 1 and len(by_memory["m2"]) == 1
    assert await any_graph.delete_memory_relations(["m1"], utcnow()) == []
    assert len(await any_graph.relations_for(ALICE, ["bike"])) == 1
    assert [r.valid for r in await any_graph.delete_memory_relations(["m2"], utcnow())] == [False]


async def test_a_retraction_retires_the_relation_and_valid_from_is_kept(any_graph) -> None:
    since = datetime(2019, 1, 1, tzinfo=UTC)
    await any_graph.apply([GraphWork(new_id(), ALICE, (Triple("alice", "WORKS_AT", "initech", valid_from=since),
                                                       Triple("alice", "LIKES", "tea")), None, utcnow())])
    assert {(r.destination, r.valid_from) for r in (await any_graph.relations(ALICE, GraphQuery(), 10, None)).items} == {
        ("initech", since), ("tea", None),
    }
    w = GraphWork(new_id(), ALICE, (Triple("alice", "WORKS_AT", "initech", negated=True),
                                    Triple("alice", "KNOWS", "nobody", negated=True)), None, utcnow())
    result = (await any_graph.apply([w]))[w.id]
    assert result.added == () and [(r.destination, r.valid) for r in result.invalidated] == [("initech", False)]
    assert [r.destination for r in (await any_graph.relations(ALICE, GraphQuery(), 10, None)).items] == ["tea"]
    assert "nobody" not in {e.name for e in (await any_graph.entities(ALICE, GraphQuery(), 10, None)).items}


async def test_erasing_memories_removes_what_only_they_stated(any_graph) -> None:
    await any_graph.apply([work(("alice", "OWNS", "red kayak"), memory_id="m1")])
    await any_graph.apply([work(("alice", "LIKES", "tea"), memory_id="m1"), work(("alice", "LIKES", "tea"), memory_id="m2")])
    await any_graph.erase_memories(["m1"])
    names = {e.name for e in (await any_graph.entities(ALICE, GraphQuery(), 10, None)).items}
    assert names == {"alice", "tea"}  # the kayak is gone, entity and relation; tea is still stated by m2
    rels = (await any_graph.relations(ALICE, GraphQuery(include_invalid=True), 10, None)).items
    assert [(r.relation, r.destination) for r in rels] == [("LIKES", "tea")]
    assert (await any_graph.relations_by_memory(["m1"]))["m1"] == []


LIVES = frozenset({"LIVES_IN"})


def work_at(at: datetime, *triples: Triple, exclusive: frozenset[str] = LIVES) -> GraphWork:
    return GraphWork(new_id(), ALICE, triples, None, at, {}, exclusive)


async def test_as_of_answers_what_held_then_after_an_exclusive_relation_changed(any_graph) -> None:
    paris_at, moved_at = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    await any_graph.apply([work_at(paris_at, Triple("alice", "LIVES_IN", "paris"))])
    await any_graph.apply([work_at(moved_at, Triple("alice", "LIVES_IN", "berlin"))])
    before, after = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)

    def where(rels) -> list[str]:
        return sorted(r.destination for r in rels)

    assert where((await any_graph.relations(ALICE, GraphQuery(as_of=before), 10, None)).items) == ["paris"]
    assert where((await any_graph.relations(ALICE, GraphQuery(as_of=after), 10, None)).items) == ["berlin"]
    assert where((await any_graph.relations(ALICE, GraphQuery(), 10, None)).items) == ["berlin"]
    assert where((await any_graph.relations(ALICE, GraphQuery(as_of=datetime(2025, 1, 1, tzinfo=UTC)), 10, None)).items) == []
    assert where(await any_graph.relations_for(ALICE, ["alice"], as_of=before)) == ["paris"]
    _, hood = await any_graph.neighbourhood(ALICE, "alice", 1, as_of=before)
    assert where(hood) == ["paris"]
    _, hood = await any_graph.neighbourhood(ALICE, "alice", 1)
    assert where(hood) == ["berlin"]
    [paris] = [r for r in (await any_graph.relations(ALICE, GraphQuery(include_invalid=True), 10, None)).items
               if r.destination == "paris"]
    assert not paris.valid and paris.valid_to == moved_at and paris.holds_at(before) and not paris.holds_at(after)


async def test_valid_to_is_the_time_the_ending_statement_gives(any_graph) -> None:
    await any_graph.apply([work_at(datetime(2026, 1, 1, tzinfo=UTC), Triple("alice", "LIVES_IN", "paris"))])
    moved = datetime(2026, 5, 1, tzinfo=UTC)  # "I moved to Berlin in May", said in June
    said = Triple("alice", "LIVES_IN", "berlin", valid_from=moved)
    await any_graph.apply([work_at(datetime(2026, 6, 1, tzinfo=UTC), said)])
    rels = {r.destination: r for r in (await any_graph.relations(ALICE, GraphQuery(include_invalid=True), 10, None)).items}
    assert rels["paris"].valid_to == moved and rels["paris"].invalidated_at == datetime(2026, 6, 1, tzinfo=UTC)
    mid_may = datetime(2026, 5, 15, tzinfo=UTC)
    assert [r.destination for r in (await any_graph.relations(ALICE, GraphQuery(as_of=mid_may), 10, None)).items] == ["berlin"]


async def test_has_relations_answers_for_the_scope_and_the_scopes_inside_it(any_graph) -> None:
    assert not await any_graph.has_relations(ALICE)
    assert not await any_graph.has_relations(Scope())  # the whole graph (memory.graph_presence)
    await any_graph.apply([work(("alice", "likes", "tea"), scope=Scope("alice", "helper"))])
    assert await any_graph.has_relations(ALICE)  # a read scope covers its agents and runs
    assert await any_graph.has_relations(Scope("alice", "helper"))
    assert not await any_graph.has_relations(Scope("alice", "other"))
    assert not await any_graph.has_relations(Scope("bob"))
    assert await any_graph.has_relations(Scope())
