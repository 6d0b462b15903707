"""Expiry and categories end to end on the real SQL repository (SQLite and PostgreSQL): the
columns round-trip, a restart rebuilds the catalog's expiries, the full-text channel drops
expired rows, category filters select in search and list. A fake clock moves time."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from history.repository import SqlMemoryRepository
from memory.categories import Category
from memory.errors import NotFound
from memory.filters import parse_filter
from memory.models import ChangeEvent, Message, Scope
from memory.ranking import SearchMode
from memory.service import MemoryService, ServiceOptions
from tests.fakes.clock import FakeClock
from tests.fakes.embedder import HashingEmbedder
from vector.hnsw import HnswIndex

ALICE = Scope(user_id="alice")
SET = (Category("food", "pizza pasta sushi dinner cooking"), Category("travel", "flight trip hotel paris japan"))


def service(repository: SqlMemoryRepository, tmp_path: Path, clock: FakeClock) -> MemoryService:
    return MemoryService(repository, HnswIndex(tmp_path / "idx", dimension=64), HashingEmbedder(),
                         options=ServiceOptions(categories=SET, expiry_sweep_s=0, sync_interval_s=0), clock=clock)


async def test_expiry_survives_a_restart_and_leaves_the_lexical_channel(repository: SqlMemoryRepository,
                                                                        tmp_path: Path) -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    svc = service(repository, tmp_path, clock)
    await svc.start()
    add = await svc.add([Message("user", "my hotel booking code is ZX81")], ALICE, infer=False,
                        expires_at=clock.at + timedelta(hours=2))
    gone = add.results[0].id
    await svc.stop()

    svc = service(repository, tmp_path, clock)  # a restart: the catalog is rebuilt from SQL
    await svc.start()
    try:
        assert (await svc.get(gone)).expires_at == datetime(2030, 1, 1, 2, tzinfo=UTC)
        assert [h.record.id for h in (await svc.search("hotel", ALICE, mode=SearchMode.LEXICAL)).hits] == [gone]
        clock.advance(hours=2)
        assert (await svc.search("hotel", ALICE, mode=SearchMode.LEXICAL)).hits == []
        assert (await svc.search("hotel booking code", ALICE)).hits == []
        with pytest.raises(NotFound):
            await svc.get(gone)
        assert await svc.expire_due() == 1
        row = await repository.get(gone)
        assert row is not None and row.invalidation_reason == "expired" and row.invalidated_at == clock.at
        assert [h.event for h in await svc.history(gone)] == [ChangeEvent.ADD, ChangeEvent.INVALIDATE]
    finally:
        await svc.stop()


async def test_category_filters_work_on_the_stored_json(repository: SqlMemoryRepository, tmp_path: Path) -> None:
    svc = service(repository, tmp_path, FakeClock(datetime(2030, 1, 1, tzinfo=UTC)))
    await svc.start()
    try:
        food = (await svc.add([Message("user", "sushi for dinner")], ALICE, infer=False)).results[0].id
        trip = (await svc.add([Message("user", "a flight to japan")], ALICE, infer=False)).results[0].id
        mine = (await svc.add([Message("user", "call the plumber")], ALICE, infer=False,
                              categories=["home", "todo"])).results[0].id
        assert (await repository.get(mine)).categories == ("home", "todo")  # read back from SQL
        listed = await svc.list_memories(ALICE, filters=parse_filter({"categories": {"contains": "food"}}))
        assert [r.id for r in listed.items] == [food]
        either = parse_filter({"OR": [{"categories": {"contains": "travel"}}, {"categories": {"contains": "todo"}}]})
        assert {r.id for r in (await svc.list_memories(ALICE, filters=either)).items} == {trip, mine}
        hits = await svc.search("sushi flight plumber", ALICE, filters=parse_filter({"NOT": {"categories": {"contains": "food"}}}))
        assert {h.record.id for h in hits.hits} == {trip, mine}
    finally:
        await svc.stop()
