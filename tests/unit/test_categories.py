"""Categories: the set a caller brings, the embedding classifier (descriptions embedded once per
set, the memory's own vector reused), explicit categories, and filters on them."""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from memory.categories import Category, CategoryClassifier, check_categories, pick
from memory.errors import InvalidInput
from memory.filters import parse_filter
from memory.models import Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
# the hashing embedder is bag-of-words: a memory sharing words with a description lands near it
SET = (Category("food", "pizza pasta sushi dinner cooking"), Category("travel", "flight trip hotel paris japan"),
       Category("misc", "anything else"))


def test_custom_categories_come_as_mem0_sends_them() -> None:
    got = check_categories([{"billing": "invoices and refunds"}, {"support": "  problems   reported "}])
    assert got == (Category("billing", "invoices and refunds"), Category("support", "problems reported"))
    assert check_categories({"a": "x", "b": "y"}) == (Category("a", "x"), Category("b", "y"))
    for bad, says in (([], "at least one"), ("food", "list of"), ([{"a": "x", "b": "y"}], "one pair each"),
                      ([{"a": ""}], "description"), ([{"a": "x"}, {"a": "y"}], "twice"), ([{"": "x"}], "category name"),
                      ([{f"c{i}": "x"} for i in range(51)], "at most 50")):
        with pytest.raises(InvalidInput, match=says):
            check_categories(bad)


def test_a_models_answer_keeps_known_names_only() -> None:
    assert pick(["Food", "unknown", "food", "travel", "misc"], SET, 2) == ("food", "travel")
    assert pick([], SET, 3) == ()


async def test_the_classifier_picks_the_closest_descriptions_and_embeds_each_set_once() -> None:
    embedder = HashingEmbedder()
    classifier = CategoryClassifier(embedder, threshold=0.2, max_per_memory=2)
    vectors = await embedder.embed(["sushi for dinner", "a flight to japan", "the weather is grey"])
    calls = embedder.calls
    got = await classifier.classify(list(vectors), SET)
    assert got == [("food",), ("travel",), ("misc",)]  # misc: the fallback, never matched by meaning
    assert await classifier.classify([vectors[0]], SET) == [("food",)]
    assert embedder.calls == calls + 1  # the set's descriptions, once
    no_fallback = SET[:2]
    assert (await classifier.classify([vectors[2]], no_fallback)) == [()]


async def test_at_most_n_categories_best_first() -> None:
    embedder = HashingEmbedder()
    classifier = CategoryClassifier(embedder, threshold=0.0, max_per_memory=1)
    vec = (await embedder.embed(["sushi in a paris hotel after the flight trip"]))[0]
    assert await classifier.classify([vec], SET) == [("travel",)]


@pytest.fixture
async def service() -> AsyncIterator[MemoryService]:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(),
                        options=ServiceOptions(categories=SET, category_threshold=0.2))
    await svc.start()
    yield svc
    await svc.stop()


async def add(svc: MemoryService, text: str, **kw: object) -> str:
    result = await svc.add([Message("user", text)], ALICE, infer=False, **kw)  # type: ignore[arg-type]
    return result.results[0].id


async def test_adds_are_filed_by_embedding_without_embedding_the_memory_twice(service: MemoryService) -> None:
    embedder: HashingEmbedder = service._embedder  # type: ignore[assignment]
    await add(service, "warm-up: the set's descriptions get embedded here")
    before = embedder.calls
    id = await add(service, "sushi for dinner tonight")
    assert embedder.calls == before + 1  # the memory's one embedding, shared by the index and the classifier
    assert (await service.get(id)).categories == ("food",)


async def test_explicit_categories_win_and_custom_sets_replace_the_configured_one(service: MemoryService) -> None:
    mine = await add(service, "sushi for dinner", categories=["work", "work", "later"])
    assert (await service.get(mine)).categories == ("work", "later")
    custom = (Category("meals", "sushi dinner lunch"), Category("trips", "flight hotel"))
    theirs = await add(service, "sushi for lunch", custom_categories=custom)
    assert (await service.get(theirs)).categories == ("meals",)
    with pytest.raises(InvalidInput, match="category name"):
        await add(service, "x y z", categories=["no\nnewlines"])


async def test_updates_refile_new_text_unless_categories_are_given(service: MemoryService) -> None:
    id = await add(service, "sushi for dinner")
    assert (await service.update(id, text="a flight to japan")).categories == ("travel",)
    assert (await service.update(id, metadata={"k": 1})).categories == ("travel",)  # text unchanged: kept
    assert (await service.update(id, categories=["plans"])).categories == ("plans",)


async def test_category_filters_select_in_search_and_list(service: MemoryService) -> None:
    food = await add(service, "sushi for dinner")
    trip = await add(service, "a flight to japan")
    has_food = parse_filter({"categories": {"contains": "food"}})
    assert [r.id for r in (await service.list_memories(ALICE, filters=has_food)).items] == [food]
    hits = await service.search("dinner flight", ALICE, filters=parse_filter({"categories": {"contains": "travel"}}))
    assert [h.record.id for h in hits.hits] == [trip]

