"""Filtered reads are bounded: filter size is capped and a request scans a bounded number of records."""
from __future__ import annotations

import dataclasses

from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from memory.errors import InvalidInput, StoreUnavailable
from memory.filters import MAX_CONDITIONS, MAX_OPERANDS, parse_filter
from memory.models import Message, Scope
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
BUDGET = 100


@pytest.fixture
async def budgeted(repo: InMemoryRepository, index: BruteForceIndex) -> AsyncIterator[MemoryService]:
    svc = MemoryService(repo, index, HashingEmbedder(), options=ServiceOptions(filter_scan_budget=BUDGET))
    await svc.start()
    yield svc
    await svc.stop()


async def test_a_filter_with_too_many_conditions_is_refused(service: MemoryService) -> None:
    await service.add([Message("user", "I like tea")], ALICE, infer=False)
    huge = parse_filter({"OR": [{"text": {"contains": f"w{i}"}} for i in range(MAX_CONDITIONS + 1)]})
    with pytest.raises(InvalidInput, match=f"at most {MAX_CONDITIONS} conditions"):
        await service.list_memories(ALICE, filters=huge)
    with pytest.raises(InvalidInput, match=f"at most {MAX_CONDITIONS} conditions"):
        await service.search("tea", ALICE, filters=huge)
    fits = parse_filter({"OR": [{"text": {"contains": f"w{i}"}} for i in range(MAX_CONDITIONS - 1)] + [{"text": {"contains": "tea"}}]})
    assert [r.text for r in (await service.list_memories(ALICE, filters=fits)).items] == ["I like tea"]


def test_an_operand_list_longer_than_the_cap_is_refused() -> None:
    with pytest.raises(InvalidInput, match=f"at most {MAX_OPERANDS} values"):
        parse_filter({"topic": {"in": list(range(MAX_OPERANDS + 1))}})
    assert parse_filter({"topic": {"in": list(range(MAX_OPERANDS))}}) is not None


async def _fill(svc: MemoryService, count: int) -> None:
    for start in range(0, count, 50):
        await svc.add([Message("user", f"note number {i}") for i in range(start, min(count, start + 50))],
                      ALICE, metadata={"n": 0}, infer=False)


async def test_a_selective_list_answers_short_pages_that_resume_until_the_match(budgeted: MemoryService) -> None:
    await budgeted.add([Message("user", "the rare one")], ALICE, metadata={"rare": True}, infer=False)
    await _fill(budgeted, 3 * BUDGET)
    rare = parse_filter({"rare": True})
    page = await budgeted.list_memories(ALICE, filters=rare, first=5)
    assert page.items == [] and page.has_next and page.end_cursor
    requests, found = 1, []
    while page.has_next:
        page = await budgeted.list_memories(ALICE, filters=rare, first=5, after=page.end_cursor)
        requests += 1
        found += [r.text for r in page.items]
    assert found == ["the rare one"]
    assert requests >= 3  # each request read at most the budget of the 301 records


async def test_a_filtered_search_reads_no_further_than_the_budget(budgeted: MemoryService) -> None:
    await budgeted.add([Message("user", "completely unrelated words")], ALICE, metadata={"rare": True}, infer=False)
    await _fill(budgeted, 2 * BUDGET)
    rare = parse_filter({"rare": True})
    assert (await budgeted.search("note number", ALICE, filters=rare, limit=5)).hits == []
    near = await budgeted.search("completely unrelated words", ALICE, filters=rare, limit=5)
    assert [h.record.text for h in near.hits] == ["completely unrelated words"]


class RacingIndex(BruteForceIndex):
    """Lets another tenant write while a search waits on the index (as a real index's thread does)."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None

    async def nearest(self, query: Any, k: int, allow: Any = None, *, exact: bool = True,
                      prepared: object = None) -> list[tuple[str, float]]:
        if self.meanwhile is not None:
            work, self.meanwhile = self.meanwhile, None
            await work()
        return await super().nearest(query, k, allow, exact=exact)


async def test_a_row_another_tenant_writes_during_a_search_is_not_returned(repo: InMemoryRepository) -> None:
    index = RacingIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    await svc.add([Message("user", "alice likes green tea")], ALICE, infer=False)
    # alice owns every row now: the catalog lets the index accept everything
    index.meanwhile = lambda: svc.add([Message("user", "bob likes green tea a lot")], Scope(user_id="bob"), infer=False)
    found = await svc.search("green tea", ALICE, limit=10)
    assert [h.record.text for h in found.hits] == ["alice likes green tea"]
    await svc.stop()


async def test_a_row_another_tenant_writes_during_an_add_is_not_taken_as_a_duplicate() -> None:
    index = RacingIndex()
    svc = MemoryService(InMemoryRepository(), index, HashingEmbedder())
    await svc.start()
    await svc.add([Message("user", "alice likes green tea")], ALICE, infer=False)
    index.meanwhile = lambda: svc.add([Message("user", "I like oolong tea.")], Scope(user_id="bob"), infer=False)
    added = await svc.add([Message("user", "I like oolong tea.")], ALICE)
    assert [(c.event.value, c.record.scope.user_id if c.record else None) for c in added.results] == [("ADD", "alice")]
    await svc.stop()


class DownForText(InMemoryRepository):
    async def lexical_search(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("sql", "connection refused")


async def test_a_store_outage_during_a_hybrid_search_surfaces_as_store_unavailable() -> None:
    # the channels run concurrently; their failure must keep its type for the edge's 503, not
    # become an ExceptionGroup (INTERNAL_SERVER_ERROR)
    # the words are read from SQL here (with the in-memory index, the lexical channel asks no store)
    svc = MemoryService(DownForText(), BruteForceIndex(), HashingEmbedder(), options=ServiceOptions(text_index=False))
    await svc.start()
    await svc.add([Message("user", "I keep bees on the roof")], Scope("alice"), infer=False)
    with pytest.raises(StoreUnavailable):
        await svc.search("bees", Scope("alice"))
    await svc.stop()


async def test_a_hit_whose_row_changed_owner_under_the_catalog_is_replaced_by_the_next_best(
        repo: InMemoryRepository) -> None:
    svc = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await svc.start()
    ids = [(await svc.add([Message("user", f"green tea note {i}")], ALICE, infer=False)).results[0].id
           for i in range(4)]
    first = await svc.search("green tea note", ALICE, limit=2)
    moved = first.hits[0].record.id
    # another replica moved it to bob in SQL; this process has not followed yet
    record, vector, seq = repo.rows[moved]
    repo.rows[moved] = (dataclasses.replace(record, scope=Scope(user_id="bob")), vector, seq)
    again = await svc.search("green tea note", ALICE, limit=2)
    assert moved not in [h.record.id for h in again.hits]
    assert len(again.hits) == 2 and {h.record.id for h in again.hits} <= set(ids)
    await svc.stop()
