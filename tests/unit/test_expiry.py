"""Expiring memories: a fake clock moves time; no sleeps. Reads drop a memory the moment it
expires (before any sweep); the sweep then invalidates or deletes it with history and events."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, AsyncIterator

import pytest

from memory.catalog import ScopeCatalog
from memory.batch import MemoryEdit
from memory.errors import BatchRejected, InvalidInput, NotFound, StoreUnavailable
from memory.events import EventKind, MemoryEvent
from memory.expiry import KEEP, ExpirySweep, check_future, expiry_from
from memory.filters import parse_filter
from memory.models import ChangeEvent, Message, Scope
from memory.ports import admitted
from memory.ranking import SearchMode
from memory.webhooks import Delivery
from memory.service import MemoryService, ServiceOptions
from tests.fakes.clock import FakeClock
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def make(clock: FakeClock, action: str = "invalidate") -> MemoryService:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), graph=InMemoryGraph(),
                        options=ServiceOptions(expiry_action=action, expiry_sweep_s=0), clock=clock)
    await svc.start()
    return svc


@pytest.fixture
async def service(clock: FakeClock) -> AsyncIterator[MemoryService]:
    svc = await make(clock)
    yield svc
    await svc.stop()


async def remember(svc: MemoryService, text: str, expires_at: datetime | None = None) -> str:
    result = await svc.add([Message("user", text)], ALICE, infer=False, expires_at=expires_at)
    return result.results[0].id


def test_a_date_holds_through_that_day_utc_and_a_time_is_taken_as_given() -> None:
    assert expiry_from("2030-05-01") == datetime(2030, 5, 2, tzinfo=UTC)
    assert expiry_from(date(2030, 12, 31)) == datetime(2031, 1, 1, tzinfo=UTC)
    assert expiry_from("2030-05-01T08:30:00Z") == datetime(2030, 5, 1, 8, 30, tzinfo=UTC)
    assert expiry_from("2030-05-01T10:30:00+02:00") == datetime(2030, 5, 1, 8, 30, tzinfo=UTC)
    assert expiry_from(datetime(2030, 5, 1, 8, 30)) == datetime(2030, 5, 1, 8, 30, tzinfo=UTC)  # naive: UTC
    assert expiry_from(None) is None
    for bad in ("tomorrow", "2030-13-01", "01/05/2030"):
        with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
            expiry_from(bad)


def test_an_expiry_must_lie_ahead() -> None:
    with pytest.raises(InvalidInput, match="already passed"):
        check_future(START, START)
    assert check_future(START + timedelta(seconds=1), START) == START + timedelta(seconds=1)
    # today's date is still ahead: it holds until midnight
    assert check_future(expiry_from(START.date()), START) == datetime(2030, 5, 2, tzinfo=UTC)


async def test_a_past_expiry_on_add_is_refused(service: MemoryService, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="already passed"):
        await remember(service, "I like tea", clock.at - timedelta(days=1))
    assert (await service.list_memories(ALICE)).items == []


async def test_an_expired_memory_leaves_every_read_the_moment_it_expires(service: MemoryService,
                                                                         clock: FakeClock) -> None:
    gone = await remember(service, "I am staying at the Grand Hotel this week", clock.at + timedelta(hours=1))
    kept = await remember(service, "I am vegetarian")

    async def visible() -> dict[str, set[str]]:
        search = await service.search("hotel vegetarian week", ALICE, mode=SearchMode.HYBRID)
        lexical = await service.search("hotel", ALICE, mode=SearchMode.LEXICAL)
        vector = await service.search("Grand Hotel this week", ALICE, mode=SearchMode.VECTOR)
        listed = await service.list_memories(ALICE)
        return {"search": {h.record.id for h in search.hits}, "lexical": {h.record.id for h in lexical.hits},
                "vector": {h.record.id for h in vector.hits}, "list": {r.id for r in listed.items},
                "many": set(await service.get_many([gone, kept]))}

    before = await visible()
    assert all(gone in ids for ids in before.values()), before
    assert (await service.get(gone)).expires_at == START + timedelta(hours=1)
    assert [o.memories for o in await service.owners(None)] == [2]

    clock.advance(hours=1)  # exactly the expiry: gone, though no sweep has run
    after = await visible()
    assert all(gone not in ids for ids in after.values()), after
    assert kept in after["list"] and kept in after["many"]
    with pytest.raises(NotFound):
        await service.get(gone)
    assert [o.memories for o in await service.owners(None)] == [1]
    # still in SQL, unswept: include_invalidated shows it, as it will once swept
    wide = await service.list_memories(ALICE, include_invalidated=True)
    assert gone in {r.id for r in wide.items}
    assert gone in {h.record.id for h in (await service.search("hotel", ALICE, include_invalidated=True)).hits}


async def test_the_vector_allow_filter_leaves_expired_ids_out(clock: FakeClock) -> None:
    catalog = ScopeCatalog(clock)
    catalog.put("soon", ALICE, True, START + timedelta(minutes=5))
    catalog.put("later", ALICE, True, START + timedelta(days=5))
    catalog.put("never", ALICE, True)
    catalog.put("bob", Scope(user_id="bob"), True)
    for scope in (ALICE, Scope()):
        assert admitted(catalog.allow(scope, False), "soon")
    clock.advance(minutes=5)
    assert catalog.expired() == {"soon"}
    for scope in (ALICE, Scope()):
        allow = catalog.allow(scope, False)
        assert not admitted(allow, "soon") and admitted(allow, "later") and admitted(allow, "never")
        assert admitted(catalog.allow(scope, True), "soon")
    assert not catalog.live("soon") and catalog.live("later")
    catalog.drop("soon")
    assert catalog.expired() == set()
    clock.advance(days=5)
    assert catalog.expired() == {"later"}


async def test_the_sweep_invalidates_expired_memories_with_history_and_events(service: MemoryService,
                                                                              clock: FakeClock) -> None:
    gone = await remember(service, "My flight code is KX12", clock.at + timedelta(minutes=30))
    await remember(service, "I live in Lyon")
    assert await service.expire_due() == 0  # nothing due yet
    clock.advance(minutes=31)
    async with service.events.subscribe(ALICE) as stream:
        assert await service.expire_due() == 1
        event = await anext(stream)
    assert event.kind is EventKind.INVALIDATE and event.memory_id == gone
    wide = await service.list_memories(ALICE, include_invalidated=True)
    swept = next(r for r in wide.items if r.id == gone)
    assert swept.invalidated_at == clock.at and swept.invalidation_reason == "expired"
    history = await service.history(gone)
    assert [(h.event, h.reason) for h in history] == [(ChangeEvent.ADD, None), (ChangeEvent.INVALIDATE, "expired")]
    assert await service.expire_due() == 0  # swept once


async def test_the_sweeps_invalidation_goes_out_to_webhooks_in_its_own_commit(service: MemoryService,
                                                                             clock: FakeClock) -> None:
    planned: list[list[EventKind]] = []

    async def planner(events: Sequence[MemoryEvent]) -> list[Delivery]:
        planned.append([e.kind for e in events])
        return []

    service.use_webhooks(planner)
    await remember(service, "My gate code is 7788", clock.at + timedelta(minutes=5))
    clock.advance(minutes=6)
    assert await service.expire_due() == 1
    assert planned == [[EventKind.ADD], [EventKind.INVALIDATE]]


async def test_batch_edits_see_an_expired_memory_as_missing(service: MemoryService, clock: FakeClock) -> None:
    gone = await remember(service, "My hotel room is 404", clock.at + timedelta(hours=1))
    kept = await remember(service, "I live in Lyon")
    clock.advance(hours=2)
    with pytest.raises(BatchRejected) as refused:
        await service.update_many([MemoryEdit(gone, text="My hotel room is 405"), MemoryEdit(kept, text="I live in Nice")])
    assert [(i.memory_id, i.code) for i in refused.value.items] == [(gone, NotFound.code)]
    with pytest.raises(BatchRejected):
        await service.delete_many([gone])
    assert [h.event for h in await service.history(gone)] == [ChangeEvent.ADD]  # nothing was written


async def test_a_memory_deleted_before_the_sweep_writes_is_left_alone(service: MemoryService, clock: FakeClock) -> None:
    gone = await remember(service, "My parking spot is B12", clock.at + timedelta(minutes=1))
    clock.advance(minutes=2)
    repo = service._repo
    embeddings = repo.embeddings

    async def deleted_meanwhile(ids: Sequence[str]) -> dict[str, Any]:
        await service.delete_all(ALICE)  # another caller wins the race
        return await embeddings(ids)

    repo.embeddings = deleted_meanwhile  # type: ignore[method-assign]
    assert await service.expire_due() == 0
    assert gone not in {r.id for r in (await service.list_memories(ALICE, include_invalidated=True)).items}


async def test_the_sweep_deletes_when_configured(clock: FakeClock) -> None:
    svc = await make(clock, "delete")
    try:
        gone = await remember(svc, "My locker code is 4512", clock.at + timedelta(seconds=10))
        clock.advance(seconds=10)
        assert await svc.expire_due() == 1
        wide = await svc.list_memories(ALICE, include_invalidated=True)
        assert gone not in {r.id for r in wide.items}
        history = await svc.history(gone)
        assert [(h.event, h.reason) for h in history] == [(ChangeEvent.ADD, None), (ChangeEvent.DELETE, "expired")]
    finally:
        await svc.stop()


async def test_an_unknown_expiry_action_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expiry_action"):
        MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(),
                      options=ServiceOptions(expiry_action="archive"))


async def test_update_sets_moves_and_clears_an_expiry(service: MemoryService, clock: FakeClock) -> None:
    id = await remember(service, "I am on call this weekend")
    rec = await service.update(id, expires_at=clock.at + timedelta(days=2))
    assert rec.expires_at == START + timedelta(days=2)
    rec = await service.update(id, text="I am on call next weekend")
    assert rec.expires_at == START + timedelta(days=2)  # kept when not given
    assert (await service.update(id, expires_at=KEEP, metadata={"k": 1})).expires_at == START + timedelta(days=2)
    with pytest.raises(InvalidInput, match="already passed"):
        await service.update(id, expires_at=clock.at - timedelta(seconds=1))
    assert (await service.update(id, expires_at=None)).expires_at is None
    clock.advance(days=3)
    assert (await service.get(id)).text == "I am on call next weekend"  # no longer expires


async def test_a_filtered_list_of_many_expired_rows_still_fills_its_page(service: MemoryService,
                                                                        clock: FakeClock) -> None:
    for i in range(30):
        await remember(service, f"temporary note number {i}", clock.at + timedelta(minutes=1))
    lasting = [await remember(service, f"lasting note number {i}") for i in range(3)]
    clock.advance(minutes=2)
    page = await service.list_memories(ALICE, first=3, filters=parse_filter({"text": {"contains": "note"}}))
    assert {r.id for r in page.items} == set(lasting)


async def test_repeating_an_expired_memory_adds_it_anew(service: MemoryService, clock: FakeClock) -> None:
    old = await remember(service, "The wifi password is tulip42", clock.at + timedelta(minutes=5))
    clock.advance(minutes=5)
    result = await service.add([Message("user", "The wifi password is tulip42")], ALICE)
    assert [c.event for c in result.results] == [ChangeEvent.ADD] and result.results[0].id != old


async def test_the_background_sweep_keeps_running_through_store_failures() -> None:
    calls: list[int] = []
    second = asyncio.Event()

    async def sweep() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("sql")  # logged; the next round tries again
        second.set()
        return 1

    runner = ExpirySweep(sweep, interval_s=0.001)
    runner.start()
    await second.wait()
    await runner.stop()
    assert len(calls) >= 2
