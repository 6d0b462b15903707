from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from memory.errors import InvalidInput, NotFound, StoreUnavailable
from memory.events import EventKind
from memory.filters import parse_filter
from memory.models import ChangeEvent, GraphQuery, Message, Scope
from memory.ports import Order
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def user(text: str) -> Message:
    return Message("user", text)


async def test_raw_add_keeps_every_non_system_message_with_its_role(service: MemoryService) -> None:
    result = await service.add(
        [Message("system", "be nice"), user("I like tea"), Message("assistant", "Noted, tea it is")],
        ALICE, metadata={"source": "chat"}, infer=False,
    )
    assert [c.event for c in result.results] == [ChangeEvent.ADD, ChangeEvent.ADD]
    stored = [await service.get(c.id) for c in result.results]
    assert [r.text for r in stored] == ["I like tea", "Noted, tea it is"]
    assert [r.metadata["role"] for r in stored] == ["user", "assistant"]
    assert all(r.metadata["source"] == "chat" for r in stored)
    history = await service.history(result.results[0].id)
    assert [(h.event, h.new_text) for h in history] == [(ChangeEvent.ADD, "I like tea")]


@pytest.mark.parametrize("scope", [Scope(), Scope(None, None, None)])
async def test_writes_and_reads_need_a_scope(service: MemoryService, scope: Scope) -> None:
    with pytest.raises(InvalidInput, match="scope is required"):
        await service.add([user("I like tea")], scope)
    with pytest.raises(InvalidInput, match="scope is required"):
        await service.search("tea", scope)
    with pytest.raises(InvalidInput, match="scope is required"):
        await service.delete_all(scope)


async def test_bad_input_is_refused_and_nothing_is_written(service: MemoryService, repo: InMemoryRepository) -> None:
    with pytest.raises(InvalidInput):
        await service.add([], ALICE)
    with pytest.raises(InvalidInput):
        await service.add([user("   ")], ALICE)
    with pytest.raises(InvalidInput, match="metadata"):
        await service.add([user("I like tea")], ALICE, metadata={"x": float("nan")})
    with pytest.raises(InvalidInput):
        Scope(user_id="bad id with spaces")
    assert repo.rows == {}


async def test_inferred_add_keeps_declarative_user_sentences_and_builds_the_graph(service: MemoryService) -> None:
    result = await service.add(
        [user("Hi! I work at Acme. What time is it? Alice likes pizza."), Message("assistant", "I live in Rome.")],
        ALICE,
    )
    assert sorted(c.memory for c in result.results) == ["Alice likes pizza.", "I work at Acme."]
    assert {(r.source, r.relation, r.destination) for r in result.relations_added} == {
        ("alice", "WORKS_AT", "acme"),
        ("alice", "LIKES", "pizza"),
    }
    assert not result.graph_pending
    by_memory = await service.relations_by_memory([c.id for c in result.results])
    assert sum(len(v) for v in by_memory.values()) == 2


async def test_a_repeated_fact_never_creates_a_second_memory(service: MemoryService, repo: InMemoryRepository) -> None:
    first = await service.add([user("I work at Acme.")], ALICE)
    again = await service.add([user("i work at   acme")], ALICE)
    assert again.results[0].event == ChangeEvent.NONE
    assert again.results[0].id == first.results[0].id
    same_call = await service.add([user("I love green tea. I love green tea!")], ALICE)
    assert [c.event for c in same_call.results] == [ChangeEvent.ADD]
    assert len(repo.rows) == 2


async def test_a_contradicting_statement_invalidates_the_old_relation(service: MemoryService) -> None:
    await service.add([user("I live in Paris.")], ALICE)
    result = await service.add([user("I live in Berlin.")], ALICE)
    assert [(r.destination, r.valid) for r in result.relations_invalidated] == [("paris", False)]
    everything = (await service.relations(ALICE, GraphQuery(include_invalid=True), 10, None)).items
    assert {(r.destination, r.valid) for r in everything} == {("paris", False), ("berlin", True)}


async def test_a_retraction_invalidates_the_matching_relation_and_creates_none(service: MemoryService) -> None:
    await service.add([user("I work at Initech and I like olives.")], ALICE)
    result = await service.add([user("I no longer work at Initech.")], ALICE)
    assert [(r.relation, r.destination, r.valid) for r in result.relations_invalidated] == [("WORKS_AT", "initech", False)]
    assert result.relations_added == []
    valid = (await service.relations(ALICE, GraphQuery(), 10, None)).items
    assert {(r.relation, r.destination) for r in valid} == {("LIKES", "olives")}
    again = await service.add([user("I don't work at Initech anymore.")], ALICE)  # nothing left to retract
    assert again.relations_invalidated == [] and again.relations_added == []


async def test_a_stated_start_time_becomes_the_relation_valid_from(service: MemoryService) -> None:
    result = await service.add([user("I have lived in Madrid since 2019.")], ALICE)
    [rel] = result.relations_added
    assert (rel.destination, rel.valid_from) == ("madrid", datetime(2019, 1, 1, tzinfo=UTC))
    [stored] = (await service.relations(ALICE, GraphQuery(), 10, None)).items
    assert stored.valid_from == datetime(2019, 1, 1, tzinfo=UTC)
    [change] = result.results  # the memory keeps when it happened
    assert change.record is not None and change.record.occurred_at == datetime(2019, 1, 1, tzinfo=UTC)


async def test_search_ranks_by_meaning_and_stays_inside_the_scope(service: MemoryService) -> None:
    await service.add([user("I love green tea in the morning"), user("My car is red")], ALICE, infer=False)
    await service.add([user("I love green tea too")], BOB, infer=False)
    result = await service.search("green tea", ALICE, limit=5)
    assert [h.record.text for h in result.hits][0] == "I love green tea in the morning"
    assert all(h.record.scope.user_id == "alice" for h in result.hits)
    assert result.hits == sorted(result.hits, key=lambda h: -h.score)
    strict = await service.search("green tea", ALICE, threshold=0.99)
    assert strict.hits == []


async def test_filtered_search_returns_limit_hits_when_that_many_match(service: MemoryService) -> None:
    for i in range(40):
        await service.add([user(f"note number {i} about tea")], ALICE, metadata={"n": i, "kind": "odd" if i % 2 else "even"}, infer=False)
    flt = parse_filter({"AND": [{"kind": "odd"}, {"n": {"gte": 10}}], "NOT": {"n": {"in": [11, 13]}}})
    result = await service.search("tea", ALICE, filters=flt, limit=7)
    ns = sorted(h.record.metadata["n"] for h in result.hits)
    assert len(ns) == 7
    assert all(n % 2 == 1 and n >= 10 and n not in (11, 13) for n in ns)


async def test_search_returns_relations_of_entities_the_query_mentions(service: MemoryService) -> None:
    await service.add([user("Alice likes pizza. Bob knows Carol.")], ALICE)
    result = await service.search("what does alice like", ALICE)
    assert [(r.source, r.relation, r.destination) for r in result.relations] == [("alice", "LIKES", "pizza")]


async def test_update_reembeds_and_records_history(service: MemoryService) -> None:
    added = await service.add([user("I like tea")], ALICE, infer=False)
    id = added.results[0].id
    updated = await service.update(id, text="I like strong coffee", metadata={"mood": "awake"})
    assert updated.text == "I like strong coffee" and updated.metadata == {"mood": "awake"}
    hits = (await service.search("strong coffee", ALICE, limit=1)).hits
    assert hits[0].record.id == id and hits[0].score > 0.6
    events = [(h.event, h.old_text, h.new_text) for h in await service.history(id)]
    assert events == [(ChangeEvent.ADD, None, "I like tea"), (ChangeEvent.UPDATE, "I like tea", "I like strong coffee")]
    with pytest.raises(InvalidInput):
        await service.update(id)
    with pytest.raises(NotFound):
        await service.update("nope", text="x")


async def test_delete_removes_from_search_but_keeps_history(service: MemoryService) -> None:
    added = await service.add([user("I like tea")], ALICE, infer=False)
    id = added.results[0].id
    await service.delete(id)
    with pytest.raises(NotFound):
        await service.get(id)
    assert (await service.search("tea", ALICE)).hits == []
    assert [h.event for h in await service.history(id)] == [ChangeEvent.ADD, ChangeEvent.DELETE]
    with pytest.raises(NotFound):
        await service.delete(id)


async def test_delete_all_only_touches_its_scope(service: MemoryService) -> None:
    await service.add([user("I like tea"), user("I like cake")], Scope("alice", "a1"), infer=False)
    await service.add([user("I like tea")], Scope("alice", "a2"), infer=False)
    await service.add([user("I like tea")], BOB, infer=False)
    assert await service.delete_all(Scope("alice", "a1")) == 2
    assert len((await service.list_memories(ALICE)).items) == 1
    assert len((await service.list_memories(BOB)).items) == 1


async def test_reset_forgets_everything(service: MemoryService, graph: InMemoryGraph) -> None:
    await service.add([user("I work at Acme.")], ALICE)
    await service.reset()
    assert (await service.list_memories(None)).items == []
    assert graph.relations_ == []
    assert (await service.search("acme", ALICE)).hits == []


async def test_list_pages_with_cursors_filters_and_order(service: MemoryService) -> None:
    for i in range(25):
        await service.add([user(f"fact {i}")], ALICE, metadata={"i": i}, infer=False)
    seen, cursor = [], None
    while True:
        page = await service.list_memories(ALICE, first=10, after=cursor, order=Order.CREATED_ASC)
        seen += [r.metadata["i"] for r in page.items]
        if not page.has_next:
            break
        cursor = page.end_cursor
    assert seen == list(range(25))
    filtered = await service.list_memories(ALICE, filters=parse_filter({"i": {"lt": 5}}), first=3, order=Order.CREATED_DESC)
    assert [r.metadata["i"] for r in filtered.items] == [4, 3, 2] and filtered.has_next
    with pytest.raises(InvalidInput, match="cursor"):
        await service.list_memories(ALICE, after="garbage!")
    with pytest.raises(InvalidInput):
        await service.list_memories(ALICE, first=0)


async def test_add_succeeds_and_queues_graph_work_when_the_graph_is_down(
    repo: InMemoryRepository, index: BruteForceIndex, graph: InMemoryGraph
) -> None:
    options = ServiceOptions(graph_write_timeout_s=0.3, graph_drain_interval_s=0.05, graph_max_backoff_s=0.1)
    svc = MemoryService(repo, index, HashingEmbedder(), graph=graph, options=options)
    await svc.start()
    graph.down = True
    try:
        result = await svc.add([user("I work at Acme.")], ALICE)
        assert result.graph_pending and result.results[0].event == ChangeEvent.ADD
        assert len(repo.outbox) == 1
        graph.down = False
        for _ in range(100):
            if not repo.outbox:
                break
            await asyncio.sleep(0.05)
        assert repo.outbox == {}
        assert [(r.source, r.destination) for r in graph.relations_] == [("alice", "acme")]
    finally:
        await svc.stop()


async def test_every_change_is_published_on_the_event_bus(service: MemoryService) -> None:
    async with service.events.subscribe(ALICE) as stream:
        added = await service.add([user("I work at Acme.")], ALICE)
        await service.update(added.results[0].id, text="I work at Initech.")
        await service.delete(added.results[0].id)
        await service.add([user("I like tea")], BOB, infer=False)
        kinds = [(await asyncio.wait_for(anext(stream), 1)).kind for _ in range(4)]
    assert kinds == [EventKind.ADD, EventKind.RELATION_ADDED, EventKind.UPDATE, EventKind.DELETE]


async def test_restart_rebuilds_a_missing_index_and_replays_a_stale_one(repo: InMemoryRepository) -> None:
    index = BruteForceIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    a = (await svc.add([user("I like tea")], ALICE, infer=False)).results[0].id
    await svc.keeper.snapshot()
    b = (await svc.add([user("I like cake")], ALICE, infer=False)).results[0].id  # after the checkpoint
    await svc.update(a, text="I like green tea")
    # crash: the process dies without saving again; the saved index lacks b and the update
    fresh = BruteForceIndex()
    fresh.saved = index.saved
    svc2 = MemoryService(repo, fresh, HashingEmbedder())
    await svc2.start()
    assert await fresh.ids() == {a, b}
    assert (await svc2.search("I like green tea", ALICE, limit=1)).hits[0].score > 0.99
    # an unusable index (nothing saved) is rebuilt from SQL
    svc3 = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await svc3.start()
    assert len((await svc3.search("like", ALICE)).hits) == 2
    for s in (svc, svc2, svc3):
        await s.stop()


async def test_a_restart_saves_the_index_only_when_the_start_changed_it_and_after_the_start(
    repo: InMemoryRepository,
) -> None:
    index = BruteForceIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    await svc.add([user("I like tea")], ALICE, infer=False)
    await svc.stop()  # a clean stop saves
    clean = index.saved
    assert clean is not None
    again = BruteForceIndex()
    again.saved = clean
    svc2 = MemoryService(repo, again, HashingEmbedder())
    await svc2.start()
    await asyncio.sleep(0.05)
    assert again.saved is clean  # nothing to replay: the snapshot it loaded is current, not written again
    await svc2.add([user("I like cake")], ALICE, infer=False)  # then the process dies without saving
    replaying = BruteForceIndex()
    replaying.saved = clean
    svc3 = MemoryService(repo, replaying, HashingEmbedder())
    await svc3.start()
    assert len((await svc3.search("like", ALICE)).hits) == 2  # the replayed memory is searchable at once
    async with asyncio.timeout(5):  # and the replay is saved right after the start
        while replaying.saved is clean:
            await asyncio.sleep(0.01)
    assert len(replaying.saved[1]) == 2  # type: ignore[index]
    for s in (svc2, svc3):
        await s.stop()


async def test_graph_queries_fail_clearly_when_the_graph_is_disabled(repo: InMemoryRepository) -> None:
    svc = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await svc.start()
    with pytest.raises(StoreUnavailable, match="disabled"):
        await svc.neighbourhood(ALICE, "alice", 1)
    result = await svc.add([user("I work at Acme.")], ALICE)
    assert result.relations_added == [] and not result.graph_pending
    await svc.stop()


async def test_neighbourhood_walks_up_to_three_hops(service: MemoryService) -> None:
    await service.add([user("Alice knows Bob. Bob knows Carol. Carol knows Dave. Dave knows Erin.")], ALICE)
    names = lambda n: {e.name for e in n.entities}  # noqa: E731
    assert names(await service.neighbourhood(ALICE, "Alice", 1)) == {"alice", "bob"}
    assert names(await service.neighbourhood(ALICE, "alice", 3)) == {"alice", "bob", "carol", "dave"}
    with pytest.raises(InvalidInput):
        await service.neighbourhood(ALICE, "alice", 4)


async def test_manual_relations_are_validated_and_can_be_invalidated(service: MemoryService) -> None:
    with pytest.raises(InvalidInput, match="relation"):
        await service.add_relation(ALICE, "a", "KNOWS]->(x) DETACH DELETE x //", "b")
    result = await service.add_relation(ALICE, "Alice", "works at", "Acme")
    assert [(r.source, r.relation, r.destination) for r in result.relations_added] == [("alice", "WORKS_AT", "acme")]
    changed = await service.invalidate_relation(ALICE, "alice", "WORKS_AT", "acme")
    assert [r.valid for r in changed] == [False]
    with pytest.raises(NotFound):
        await service.invalidate_relation(ALICE, "alice", "WORKS_AT", "acme")


async def test_work_the_graph_refuses_for_good_does_not_block_the_rest(repo: InMemoryRepository, graph: InMemoryGraph) -> None:
    options = ServiceOptions(graph_write_timeout_s=0.5, graph_drain_interval_s=0.05, graph_max_backoff_s=0.1)
    svc = MemoryService(repo, BruteForceIndex(), HashingEmbedder(), graph=graph, options=options)
    real_apply = graph.apply

    async def picky_apply(batch):  # refuses one statement as a broken server would
        if any(t.destination == "poison" for w in batch for t in w.triples):
            raise ValueError("refused")
        return await real_apply(batch)

    graph.apply = picky_apply  # type: ignore[method-assign]
    await svc.start()
    try:
        bad = await svc.add([user("I work at Poison.")], ALICE)
        good = await svc.add([user("I work at Acme.")], ALICE)
        assert bad.graph_pending and not good.graph_pending
        assert [r.destination for r in good.relations_added] == ["acme"]
        assert len(repo.outbox) == 1 and repo.failures
    finally:
        await svc.stop()
