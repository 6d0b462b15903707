"""The HTTP reranker against a local /rerank server, alone and inside hybrid search."""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from memory.errors import InvalidInput, ProviderError
from memory.models import Message, Scope
from memory.providers.http_reranker import HttpReranker
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository
from tests.fixtures.rerank_fake import FakeReranker

ALICE = Scope(user_id="alice")
DOCS = ["the cat sat", "a dog and a cat sat together", "nothing here"]


@pytest.mark.parametrize("api", ["cohere", "tei"])
async def test_scores_come_back_in_document_order_for_both_api_shapes(fake_reranker: FakeReranker, api: str) -> None:
    reranker = HttpReranker(fake_reranker.base_url, "rerank-model", "key", api=api)  # type: ignore[arg-type]
    try:
        assert await reranker.rerank("dog cat", DOCS) == [0.5, 1.0, 0.0]
    finally:
        await reranker.aclose()
    sent = fake_reranker.requests[0]
    assert sent["query"] == "dog cat"
    assert sent.get("texts" if api == "tei" else "documents") == DOCS
    assert (sent.get("model") == "rerank-model") == (api == "cohere")


async def test_http_errors_become_provider_errors(fake_reranker: FakeReranker) -> None:
    fake_reranker.fail_with = 401
    reranker = HttpReranker(fake_reranker.base_url)
    try:
        with pytest.raises(ProviderError, match="API key"):
            await reranker.rerank("q", ["d"])
    finally:
        await reranker.aclose()


@pytest.fixture
async def reranked_service(fake_reranker: FakeReranker) -> AsyncIterator[MemoryService]:
    reranker = HttpReranker(fake_reranker.base_url)
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), reranker=reranker,
                        options=ServiceOptions(sync_interval_s=0))
    await svc.start()
    yield svc
    await svc.stop()
    await reranker.aclose()


async def test_search_reorders_the_best_hits_by_the_reranker(reranked_service: MemoryService,
                                                             fake_reranker: FakeReranker) -> None:
    for text in ["tickets tickets tickets for jazz", "the jazz concert tickets are for Friday night"]:
        await reranked_service.add([Message("user", text)], ALICE, infer=False)
    query = "jazz concert tickets Friday"
    plain = (await reranked_service.search(query, ALICE, limit=2, rerank=False)).hits
    assert all(h.scores.reranked is None for h in plain)
    hits = (await reranked_service.search(query, ALICE, limit=2)).hits
    assert [h.record.text for h in hits][0] == "the jazz concert tickets are for Friday night"
    assert [h.scores.reranked for h in hits] == [1.0, 0.5] and [h.score for h in hits] == [1.0, 0.5]
    fake_reranker.fail_with = 503  # a failing reranker costs its order, not the search
    failed = (await reranked_service.search(query, ALICE, limit=2)).hits
    assert [h.record.id for h in failed] == [h.record.id for h in plain]


async def test_rerank_true_without_a_reranker_is_refused() -> None:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder())
    with pytest.raises(InvalidInput, match="none is configured"):
        await svc.search("x", ALICE, rerank=True)
