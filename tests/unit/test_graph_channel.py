"""The graph channel of hybrid search: mentions of the query's entities, one hop out, scope-exact."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import AsyncIterator

import pytest

from memory.graph_channel import HOP_DISCOUNT, co_mentioned, idf, related, scored, selective
from memory.models import Message, Relation, Scope
from memory.ranking import SearchMode
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


async def remember(service: MemoryService, text: str, scope: Scope = ALICE, infer: bool = False) -> str:
    return (await service.add([Message("user", text)], scope, infer=infer)).results[0].id


def test_rare_names_weigh_more_and_names_most_memories_share_select_nothing() -> None:
    assert idf(100, 1) > idf(100, 4) > 0
    weights = selective({"caroline": 60, "biscuit": 2, "paris": 5, "gone": 0}, total=100)
    assert set(weights) == {"biscuit", "paris"} and weights["biscuit"] > weights["paris"]
    assert set(selective({"caroline": 3}, total=4)) == {"caroline"}  # a small scope: a floor, not a share


def test_a_memory_scores_its_query_entities_fully_and_related_ones_at_a_discount() -> None:
    named = {"m1": ["biscuit", "caroline"], "m2": ["biscuit"], "m3": ["melanie"]}
    ranked = scored(named, direct={"caroline": 2.0}, hops={"biscuit": 1.0})
    assert ranked == [("m1", 2.0 + HOP_DISCOUNT), ("m2", HOP_DISCOUNT)]
    assert co_mentioned(named, ["caroline"]) == ["biscuit", "melanie"]


def test_related_entities_come_from_relations_that_held_at_the_time() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    paris = Relation("alice", "LIVES_IN", "paris", ALICE, at, valid=False, invalidated_at=datetime(2026, 6, 1, tzinfo=UTC))
    berlin = Relation("alice", "LIVES_IN", "berlin", ALICE, datetime(2026, 6, 1, tzinfo=UTC))
    sister = Relation("maria", "SISTER_OF", "alice", ALICE, at)
    assert related([paris, berlin, sister], ["alice"], None) == ["berlin", "maria"]
    assert related([paris, berlin, sister], ["alice"], datetime(2026, 3, 1, tzinfo=UTC)) == ["maria", "paris"]


@pytest.fixture
async def roomy(repo: InMemoryRepository, graph: InMemoryGraph) -> AsyncIterator[MemoryService]:
    # a wide hashing space: word collisions would blur what the vector channel alone ranks
    svc = MemoryService(repo, BruteForceIndex(1024), HashingEmbedder(1024), graph=graph,
                        options=ServiceOptions(dedup_threshold=0.95, graph_write_timeout_s=0.5))
    await svc.start()
    yield svc
    await svc.stop()


ROSE_WORDS = [
    "I planted a rose bush and the rose smelled sweet", "A rose for my birthday, a red rose from the market",
    "The rose garden had a white rose and a pink rose", "rose tea with rose petals tastes of rose",
    "My birthday cake had a sugar rose on top of a rose cream", "we gave the rose bush some water",
    "the rose by the gate needs pruning", "She wore a rose pin",
]


async def test_a_raw_memory_naming_a_person_is_found_where_words_and_meaning_rank_it_low(roomy: MemoryService) -> None:
    # "Rose" the person, among memories about roses: the words match the flowers better, the
    # mention index knows the name
    knitted = await remember(roomy, "Rose knitted a silk scarf last winter")
    for text in ROSE_WORDS:
        await remember(roomy, text)
    query = "What has Rose made?"
    for mode in (SearchMode.VECTOR, SearchMode.LEXICAL):
        assert knitted not in [h.record.id for h in (await roomy.search(query, ALICE, limit=5, mode=mode)).hits]
    hits = (await roomy.search(query, ALICE, limit=5)).hits
    assert knitted in [h.record.id for h in hits]
    assert [h.record.id for h in hits if h.scores.graph is not None] == [knitted]
    # the graph channel is what lifted it
    roomy.searcher.weights = replace(roomy.searcher.weights, graph=0.0)
    assert knitted not in [h.record.id for h in (await roomy.search(query, ALICE, limit=5)).hits]


async def test_one_hop_a_memory_about_a_related_entity_comes_back_with_a_lower_graph_score(service: MemoryService) -> None:
    adopted = await remember(service, "Caroline adopted a puppy named Biscuit")
    chewed = await remember(service, "Biscuit chewed through the garden hose again")
    for i in range(6):
        await remember(service, f"Melanie went running by the lake, lap {i}")
    hits = {h.record.id: h for h in (await service.search("How is Caroline doing?", ALICE, limit=10)).hits}
    assert chewed in hits and hits[chewed].scores.lexical is None  # no word of the query in it
    assert 0 < hits[chewed].scores.graph < hits[adopted].scores.graph
    assert all(h.scores.graph is None for id, h in hits.items() if id not in (adopted, chewed))


async def test_one_hop_follows_the_graph_relations_of_the_user(service: MemoryService) -> None:
    await remember(service, "I live in Paris.", infer=True)  # the offline extractor: alice LIVES_IN paris
    rainy = await remember(service, "Paris was rainy all week")
    await remember(service, "The cat sleeps on the sofa")
    hits = {h.record.id: h for h in (await service.search("Where do I live?", ALICE, limit=10)).hits}
    assert hits[rainy].scores.graph is not None and hits[rainy].scores.graph > 0


async def test_another_users_mentions_never_leak(service: MemoryService) -> None:
    mine = await remember(service, "Caroline baked bread")
    await remember(service, "Caroline from work called", BOB)
    theirs_linked = await remember(service, "Caroline and Biscuit went out", BOB)
    await remember(service, "Biscuit barked at the postman", BOB)
    hits = (await service.search("What about Caroline and Biscuit?", ALICE, limit=10)).hits
    assert [h.record.id for h in hits] == [mine] and hits[0].scores.graph is not None
    bob = {h.record.id for h in (await service.search("Caroline", BOB, limit=10)).hits}
    assert mine not in bob and theirs_linked in bob


async def test_a_query_naming_no_entity_never_asks_the_mention_index(service: MemoryService, monkeypatch) -> None:
    await remember(service, "Caroline baked bread")
    asked: list[object] = []
    mention_index = service.searcher._text  # the in-memory index by default, else the repository
    for name in ("mention_counts", "mentioning", "mentions"):
        real = getattr(mention_index, name)

        async def spy(*args, _real=real, **kwargs):
            asked.append(args)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(mention_index, name, spy)
    await service.search("what did she bake?", ALICE)
    await service.search("Caroline", ALICE, mode=SearchMode.VECTOR)
    assert asked == []
    await service.search("what did Caroline bake?", ALICE)
    assert asked


async def test_a_name_most_memories_share_boosts_none_and_costs_no_graph_round_trip(
        service: MemoryService, graph: InMemoryGraph, monkeypatch) -> None:
    for i in range(8):
        await remember(service, f"Caroline: message number {i} about the weather")
    await remember(service, "Melanie painted the lake at dawn")
    await service.add_relation(ALICE, "melanie", "LIKES", "lakes")  # the scope has a graph to ask
    asked: list[object] = []
    real = graph.relations_for

    async def spy(*args, **kwargs):
        asked.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(graph, "relations_for", spy)
    hits = (await service.search("What did Caroline say?", ALICE, limit=10, with_relations=False)).hits
    assert hits and all(h.scores.graph is None for h in hits) and asked == []
    painted = (await service.search("What did Melanie paint?", ALICE, limit=10, with_relations=False)).hits
    assert painted[0].scores.graph is not None and len(asked) == 1
