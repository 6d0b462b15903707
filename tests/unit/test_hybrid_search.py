"""Hybrid search in the core: channels, fusion, per-hit explanations, exact scope and filters."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Sequence

import numpy as np
import pytest

from memory.errors import InvalidInput
from memory.filters import parse_filter
from memory.models import Message, Scope
from memory.ranking import FusionMethod, FusionWeights, SearchMode, candidates, fuse, matched_terms, query_terms
from memory.service import MemoryService
from memory.timeparse import time_window
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


async def remember(service: MemoryService, text: str, scope: Scope = ALICE, **meta: object) -> str:
    result = await service.add([Message("user", text)], scope, metadata=meta or None, infer=False)
    return result.results[0].id


def test_query_terms_drop_stop_words_and_punctuation_and_keep_order() -> None:
    assert query_terms("When did Caroline go to the LGBTQ support group, in 2023?") == [
        "caroline", "lgbtq", "support", "group", "2023"]
    assert query_terms("what is it?") == []
    assert matched_terms(["painting", "sunrise", "lake"], "Melanie painted a sunrise.") == ["painting", "sunrise"]


def ranked(channels: dict[str, list[tuple[str, float]]], weights: FusionWeights) -> list[str]:
    return [c.id for c in fuse(candidates(channels), list(channels), weights)]


RRF = FusionWeights(method=FusionMethod.RRF)


def test_rank_fusion_rewards_agreement_between_channels() -> None:
    channels = {"vector": [("a", 0.9), ("b", 0.8)], "lexical": [("b", 3.0), ("c", 2.0)]}
    assert ranked(channels, RRF) == ["b", "a", "c"]
    best = fuse(candidates(channels), ["vector", "lexical"], RRF)[0]
    assert best.ranks == {"vector": 2, "lexical": 1} and 0 < best.scores["fused"] < 1
    heavy = FusionWeights(method=FusionMethod.RRF, lexical=3.0)
    assert ranked({"vector": [("a", 0.9), ("b", 0.8)], "lexical": [("c", 3.0)]}, heavy)[0] == "c"


def test_relative_fusion_keeps_how_far_ahead_a_channel_best_is() -> None:
    channels = {"vector": [("a", 0.50), ("b", 0.49), ("c", 0.10)], "lexical": [("b", 9.0), ("a", 1.0), ("c", 0.5)]}
    assert ranked(channels, RRF) == ["a", "b", "c"]  # ranks 1+2 each: a tie, broken by id
    relative = fuse(candidates(channels), list(channels), FusionWeights())
    assert [c.id for c in relative] == ["b", "a", "c"] and relative[0].scores["fused"] > 0.98


async def test_hybrid_finds_an_exact_word_that_meaning_alone_ranks_low(service: MemoryService) -> None:
    code = await remember(service, "The gate code for the warehouse is 7319")
    for i in range(12):
        await remember(service, f"I keep the warehouse tidy on day {i}")
    hybrid = await service.search("7319", ALICE, limit=3)
    assert hybrid.hits[0].record.id == code
    hit = hybrid.hits[0]
    assert hit.matched_terms == ("7319",) and hit.scores.lexical is not None and hit.scores.lexical > 0
    assert hit.scores.vector is not None and hit.score == hit.scores.fused and 0 < hit.score <= 1.0
    lexical = await service.search("7319", ALICE, limit=3, mode=SearchMode.LEXICAL)
    assert [h.record.id for h in lexical.hits] == [code] and lexical.hits[0].scores.vector is None
    vector = await service.search("7319", ALICE, limit=3, mode=SearchMode.VECTOR)
    assert all(h.scores.lexical is None and h.score == h.scores.vector for h in vector.hits)


async def test_hybrid_search_stays_inside_scope_and_filters(service: MemoryService) -> None:
    mine = await remember(service, "Comet the greyhound loves the beach", topic="pets")
    await remember(service, "Comet the greyhound loves the beach", BOB, topic="pets")
    other_topic = await remember(service, "a greyhound named Comet", topic="work")
    for mode in SearchMode:
        found = await service.search("greyhound Comet", ALICE, limit=10, mode=mode)
        assert {h.record.id for h in found.hits} == {mine, other_topic}
        only = await service.search("greyhound Comet", ALICE, mode=mode,
                                    filters=parse_filter({"topic": "pets"}))
        assert [h.record.id for h in only.hits] == [mine]


async def test_deleted_and_updated_memories_leave_the_lexical_channel(service: MemoryService) -> None:
    id = await remember(service, "my locker number is 4417")
    await service.update(id, text="my locker number is 5520")
    assert (await service.search("4417", ALICE, mode=SearchMode.LEXICAL)).hits == []
    assert [h.record.id for h in (await service.search("5520", ALICE, mode=SearchMode.LEXICAL)).hits] == [id]
    await service.delete(id)
    assert (await service.search("5520", ALICE, mode=SearchMode.LEXICAL)).hits == []


async def test_threshold_is_cosine_and_refused_for_lexical_only(service: MemoryService) -> None:
    await remember(service, "I like green tea")
    assert (await service.search("green tea", ALICE, threshold=1.0)).hits == []
    with pytest.raises(InvalidInput, match="threshold"):
        await service.search("green tea", ALICE, threshold=0.5, mode=SearchMode.LEXICAL)
    with pytest.raises(InvalidInput, match="mode"):
        await service.search("green tea", ALICE, mode="fuzzy")  # type: ignore[arg-type]


NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("query, start, end", [
    ("what did I do last May?", datetime(2023, 5, 1), datetime(2023, 6, 1)),
    ("trips in 2022", datetime(2022, 1, 1), datetime(2023, 1, 1)),
    ("the concert in June 2023", datetime(2023, 6, 1), datetime(2023, 7, 1)),
    ("who called yesterday", datetime(2024, 3, 14), datetime(2024, 3, 15)),
    ("what happened last month", datetime(2024, 2, 1), datetime(2024, 3, 1)),
    ("the party two weeks ago", datetime(2024, 2, 27), datetime(2024, 3, 5)),
    ("3 days ago", datetime(2024, 3, 12), datetime(2024, 3, 13)),
    ("in March", datetime(2024, 3, 1), datetime(2024, 4, 1)),
])
def test_time_expressions_name_a_window_relative_to_now(query: str, start: datetime, end: datetime) -> None:
    assert time_window(query, NOW) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_queries_without_time_words_have_no_window() -> None:
    assert time_window("may I have some tea", NOW) is None
    assert time_window("room 2023 of the hotel", NOW) is None


async def test_a_time_expression_ranks_memories_of_that_time_first(service: MemoryService) -> None:
    old = (await service.add([Message("user", "went hiking with Sam")], ALICE, infer=False,
                             occurred_at=datetime(2023, 5, 10, tzinfo=UTC))).results[0].id
    new = (await service.add([Message("user", "went hiking with Sam")], ALICE, infer=False,
                             occurred_at=datetime(2024, 1, 3, tzinfo=UTC))).results[0].id
    first = (await service.search("hiking with Sam in May 2023", ALICE, limit=2)).hits
    assert [h.record.id for h in first] == [old, new] and first[0].scores.time == 1.0 and first[1].scores.time is None
    latest = (await service.search("hiking with Sam in 2024", ALICE, limit=2)).hits
    assert latest[0].record.id == new


async def test_as_of_searches_what_was_stored_then(service: MemoryService) -> None:
    before = await remember(service, "the wifi password is tulip")
    cut = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await remember(service, "the wifi password is orchid now")
    found = await service.search("wifi password", ALICE, as_of=cut)
    assert [h.record.id for h in found.hits] == [before]
    assert len((await service.search("wifi password", ALICE)).hits) == 2


async def test_context_returns_the_neighbouring_memories_of_the_same_owner(service: MemoryService) -> None:
    turns = [await remember(service, text) for text in
             ["Hi Sam!", "Did you get the tickets?", "Yes, for the jazz concert", "Great, see you Friday"]]
    await remember(service, "unrelated note from bob", BOB)
    (hit,) = (await service.search("jazz concert tickets", ALICE, limit=1, context=1)).hits
    assert hit.record.id == turns[2]
    assert [c.id for c in hit.context] == [turns[1], turns[3]]
    (edge,) = (await service.search("Hi Sam", ALICE, limit=1, context=2, mode=SearchMode.LEXICAL)).hits
    assert edge.record.id == turns[0] and [c.id for c in edge.context] == turns[1:3]
    assert (await service.search("jazz", ALICE, limit=1)).hits[0].context == ()
    with pytest.raises(InvalidInput, match="context"):
        await service.search("jazz", ALICE, context=6)


class CoarseIndex(BruteForceIndex):
    """Ranking-grade scores rounded to 0.05 (a compressed copy's, made obvious); exact ones exact.
    Records which kind each search asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, bool]] = []

    async def nearest(self, query: Any, k: int, allow: Any = None, *, exact: bool = True,
                      prepared: object = None) -> list[tuple[str, float]]:
        self.asked.append(("nearest", exact))
        found = await super().nearest(query, k, allow)
        return found if exact else [(id, round(s * 20) / 20) for id, s in found]

    async def similarities(self, query: Any, ids: Sequence[str], *, exact: bool = True) -> dict[str, float]:
        self.asked.append(("similarities", exact))
        found = await super().similarities(query, ids)
        return found if exact else {id: round(s * 20) / 20 for id, s in found.items()}


async def test_candidates_rank_by_rough_scores_and_the_hits_report_exact_ones(repo: InMemoryRepository) -> None:
    index = CoarseIndex()
    embedder = HashingEmbedder()
    svc = MemoryService(repo, index, embedder)
    await svc.start()
    texts = ["green tea every morning", "tea with lemon and honey", "espresso after lunch", "a walk by the lake"]
    for text in texts:
        await remember(svc, text)
    query = "tea in the morning"
    q = (await embedder.embed([query]))[0]
    exact = {t: float(np.dot(q, (await embedder.embed([t]))[0])) for t in texts}

    index.asked.clear()
    hybrid = await svc.search(query, ALICE, limit=3)
    assert ("nearest", False) in index.asked and ("nearest", True) not in index.asked
    for hit in hybrid.hits:  # what a hit reports is exact, whatever ranked it
        assert hit.scores.vector == pytest.approx(exact[hit.record.text], abs=1e-6)

    # the vector score alone decides the order, or which hits pass: exact throughout
    for kwargs in ({"mode": SearchMode.VECTOR}, {"threshold": -1.0}):
        index.asked.clear()
        found = await svc.search(query, ALICE, limit=3, **kwargs)
        assert index.asked and all(exact_asked for _, exact_asked in index.asked)
        assert [h.scores.vector for h in found.hits] == pytest.approx([exact[h.record.text] for h in found.hits],
                                                                      abs=1e-6)
    await svc.stop()


class LongVectors(HashingEmbedder):
    """Vectors three times unit length (our models' are unit length; an imported file's need not be)."""

    async def embed(self, texts: Sequence[str], owner: str = "") -> Any:
        return np.asarray(await super().embed(texts, owner)) * 3.0


async def test_a_hit_reports_the_cosine_whatever_length_the_embedder_gives_its_vectors(repo: InMemoryRepository) -> None:
    embedder = LongVectors()
    svc = MemoryService(repo, CoarseIndex(), embedder)
    await svc.start()
    texts = ["green tea every morning", "tea with lemon and honey", "espresso after lunch"]
    for text in texts:
        await remember(svc, text)
    unit = {t: v / np.linalg.norm(v) for t, v in zip(texts, await embedder.embed(texts))}
    q = (await embedder.embed(["tea in the morning"]))[0]
    q = q / np.linalg.norm(q)
    hits = (await svc.search("tea in the morning", ALICE, limit=3)).hits
    assert len(hits) == 3
    assert [h.scores.vector for h in hits] == pytest.approx([float(unit[h.record.text] @ q) for h in hits], abs=1e-6)
    await svc.stop()


class PreparingIndex(BruteForceIndex):
    """Counts the scans a search asked the index to prepare while its query was embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared = 0

    async def prepare(self, allow: Any) -> object:
        self.prepared += 1
        return None


async def test_a_lone_search_has_its_scan_prepared_and_searches_in_flight_together_do_not(
    repo: InMemoryRepository,
) -> None:
    index = PreparingIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    for text in ["green tea every morning", "espresso after lunch", "a walk by the lake"]:
        await remember(svc, text)
    await svc.search("tea in the morning", ALICE, limit=2)
    assert index.prepared == 1  # the loop would otherwise only wait for the model
    index.prepared = 0
    await asyncio.gather(*(svc.search(f"tea number {i}", ALICE, limit=2) for i in range(6)))
    assert index.prepared <= 1  # the first may start alone; the others find it in flight
    await svc.stop()
