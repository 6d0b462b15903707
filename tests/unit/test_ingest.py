"""The add pipeline keeps the event loop free and refuses requests too big to serve fairly."""
from __future__ import annotations

import asyncio
import threading

import pytest

from memory.catalog import ScopeCatalog
from memory.errors import InvalidInput
from memory.extraction import Extraction, extract
from memory.ingest import Ingestor
from memory.models import Message, Scope
from memory.service import MemoryService
from memory.validation import MAX_ADD_CHARS, MAX_MESSAGES
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")


async def test_the_extractor_runs_while_the_event_loop_keeps_serving() -> None:
    loop_served = threading.Event()

    def slow_extractor(messages: list[Message], speaker: str) -> Extraction:
        # stands for a long regex pass: it only finishes once the loop has run something else
        assert loop_served.wait(timeout=10), "the event loop was blocked while extracting"
        return extract(messages, speaker)

    ingestor = Ingestor(
        HashingEmbedder(), BruteForceIndex(), ScopeCatalog(), InMemoryRepository(), None,
        dedup_threshold=0.95, similar_memories=5, extractor=slow_extractor,
    )

    async def other_tenant() -> None:
        await asyncio.sleep(0)
        loop_served.set()

    decided, _ = await asyncio.gather(
        ingestor.decide([Message("user", "I work at Acme.")], ALICE, True, None), other_tenant()
    )
    assert [c.text for c, _ in decided.adds] == ["I work at Acme."]


async def test_an_add_with_too_many_messages_is_refused_and_nothing_is_written(
    service: MemoryService, repo: InMemoryRepository
) -> None:
    many = [Message("user", f"fact {i}") for i in range(MAX_MESSAGES + 1)]
    with pytest.raises(InvalidInput, match=f"at most {MAX_MESSAGES} messages"):
        await service.add(many, ALICE, infer=False)
    assert repo.rows == {}
    accepted = await service.add(many[:MAX_MESSAGES], ALICE, infer=False)
    assert len(accepted.results) == MAX_MESSAGES


async def test_an_add_larger_than_the_character_budget_is_refused(service: MemoryService, repo: InMemoryRepository) -> None:
    big = [Message("user", "word " * 6_000) for _ in range(MAX_ADD_CHARS // 30_000 + 1)]
    with pytest.raises(InvalidInput, match="characters in all"):
        await service.add(big, ALICE, infer=False)
    assert repo.rows == {}
