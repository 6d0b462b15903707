"""memory/index_keeper.py: the arrangement of the index's scan copy by owner, and when it is
made again."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from memory import index_keeper
from memory.index_keeper import IndexKeeper
from memory.models import Message, Scope
from memory.service import MemoryService
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository
from vector import files
from vector.hnsw import HnswIndex


async def grow(index: BruteForceIndex, total: int) -> None:
    have = await index.count()
    await index.upsert([(f"m{i}", np.ones(64, dtype=np.float32)) for i in range(have, total)])


async def test_the_index_is_arranged_once_big_enough_and_again_after_growing_by_a_quarter(
    repo: InMemoryRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_keeper, "ARRANGE_MIN", 8)
    index = BruteForceIndex()
    orders = iter([["m1", "m0"], ["m2", "m1", "m0"]])
    keeper = IndexKeeper(index, repo, order=lambda: next(orders))
    await grow(index, 7)
    assert not await keeper.arrange_if_due() and index.arranged is None  # small: nothing to gain
    await grow(index, 8)
    assert await keeper.arrange_if_due() and index.arranged == ["m1", "m0"]
    await grow(index, 9)
    assert not await keeper.arrange_if_due()  # grown by an eighth
    await grow(index, 10)
    assert await keeper.arrange_if_due() and index.arranged == ["m2", "m1", "m0"]


async def test_without_an_order_the_index_is_never_arranged(repo: InMemoryRepository) -> None:
    index = BruteForceIndex()
    await grow(index, index_keeper.ARRANGE_MIN)
    assert not await IndexKeeper(index, repo).arrange_if_due() and index.arranged is None


async def test_the_service_arranges_its_index_by_the_owners_of_its_memories(
    repo: InMemoryRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_keeper, "ARRANGE_MIN", 1)
    index = BruteForceIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    owner = {}
    for i in range(6):  # two users' adds interleaved, as they come in
        scope = Scope(user_id=("bob", "alice")[i % 2])
        added = await svc.add([Message(role="user", content=f"note {i}")], scope, infer=False)
        owner[added.results[0].id] = scope.user_id
    assert await svc.keeper.arrange_if_due()
    assert index.arranged is not None
    assert [owner[id] for id in index.arranged] == ["alice"] * 3 + ["bob"] * 3
    await svc.stop()


async def test_a_snapshot_waits_for_a_graph_built_in_the_background_without_holding_writers_back(
    repo: InMemoryRepository, tmp_path: Path, held_build: threading.Event
) -> None:
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    keeper = IndexKeeper(index, repo)
    vectors = np.random.default_rng(5).standard_normal((3000, 32)).astype(np.float32)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vectors)])  # a bulk load: graph built after
    assert index.building() is not None
    snapshot = asyncio.create_task(keeper.snapshot())
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(10), keeper.writing():  # a writer gets in while the snapshot waits for the graph
            assert index.building() is not None
    finally:
        held_build.set()  # the build waited until the writer got in
    await snapshot
    assert index.building() is None and (tmp_path / "vectors" / files.MANIFEST).is_file()
    await index.close()


async def test_settled_returns_once_a_background_build_is_saved_and_arranged(
    repo: InMemoryRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_keeper, "ARRANGE_MIN", 8)
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    arranged: list[int] = []
    keeper = IndexKeeper(index, repo, save_interval_s=3600, order=lambda: arranged.append(1) or ["m0"])
    vectors = np.random.default_rng(6).standard_normal((3000, 32)).astype(np.float32)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vectors)])
    keeper.mark_dirty()  # as a rebuild leaves it
    keeper.start()
    try:
        await asyncio.wait_for(keeper.settled(), 60)
        assert index.building() is None
        assert (tmp_path / "vectors" / files.MANIFEST).is_file() and arranged == [1]
        await asyncio.wait_for(keeper.settled(), 1)  # resting: at once
    finally:
        await keeper.stop()
        await index.close()


async def test_settled_after_a_build_that_ends_while_the_keeper_rests_waits_for_a_save(
    repo: InMemoryRepository, tmp_path: Path
) -> None:
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    keeper = IndexKeeper(index, repo, save_interval_s=3600)
    keeper.start()
    try:
        await asyncio.wait_for(keeper.settled(), 10)  # its first round: nothing to do, then an hour's rest
        vectors = np.random.default_rng(8).standard_normal((3000, 32)).astype(np.float32)
        await index.upsert([(f"m{i}", v) for i, v in enumerate(vectors)])  # a replica's resync, say
        keeper.mark_dirty()
        await asyncio.wait_for(keeper.settled(), 60)
        assert index.building() is None and (tmp_path / "vectors" / files.MANIFEST).is_file()
    finally:
        await keeper.stop()
        await index.close()
    await asyncio.wait_for(keeper.settled(), 1)  # stopped: no round to wait for


async def test_the_warm_step_runs_in_the_first_round_and_after_each_arrangement_only(
    repo: InMemoryRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_keeper, "ARRANGE_MIN", 8)
    index = BruteForceIndex()
    seen: list[list[str] | None] = []

    async def warm() -> None:  # what the index was last laid out by when the step ran
        seen.append(index.arranged)

    keeper = IndexKeeper(index, repo, save_interval_s=3600, order=lambda: sorted(index._vectors), warm=warm)
    assert not keeper.settling  # not started
    await grow(index, 4)
    keeper.start()
    assert keeper.settling
    try:
        await asyncio.wait_for(keeper.settled(), 10)  # the first round: too small to arrange, warmed
        assert seen == [None] and not keeper.settling
        await asyncio.wait_for(keeper.settled(), 10)  # a round with nothing to arrange: no warm step
        assert seen == [None]
        await grow(index, 8)
        await asyncio.wait_for(keeper.settled(), 10)  # arranged, then warmed
        assert seen == [None, [f"m{i}" for i in sorted(range(8), key=str)]]
        await keeper.stop()
        keeper.start()  # started again: settling until its new first round is over
        assert keeper.settling
        await asyncio.wait_for(keeper.settled(), 10)
        assert not keeper.settling and len(seen) == 3
    finally:
        await keeper.stop()


async def test_after_the_start_the_largest_scopes_first_searches_look_up_no_labels(
    repo: InMemoryRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = HashingEmbedder(32)
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    svc = MemoryService(repo, index, embedder)
    await svc.start()
    sizes = {"alice": 35, "bob": 30, "cy": 20, "dan": 20, "eve": 20}  # each under 30% of all: searched by set
    for user, n in sizes.items():
        await svc.add([Message(role="user", content=f"{user} note {i}") for i in range(n)], Scope(user), infer=False)
    await svc.stop()
    # started again on what it saved: nothing is known yet of any scope's scan
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    svc = MemoryService(repo, index, embedder)
    looked_up: list[int] = []
    lookup = index._labels_of_ids
    monkeypatch.setattr(index, "_labels_of_ids", lambda ids: looked_up.append(len(ids)) or lookup(ids))
    await svc.start()
    try:
        await asyncio.wait_for(svc.keeper.settled(), 10)
        assert sorted(looked_up) == [20, 20, 20, 30, 35]  # each scope, prepared in the start's round
        looked_up.clear()
        for user in sizes:
            hits = (await svc.search("note 3", Scope(user), limit=3)).hits
            assert hits and all(hit.record.scope.user_id == user for hit in hits)
        assert looked_up == []
        await svc.search("note 3", Scope("alice", "helper"), limit=3)  # a scope not prepared: looked up then
        assert looked_up == [0]
    finally:
        await svc.stop()


async def _sql_ids(repo: InMemoryRepository) -> set[str]:
    return {row.id for row in await repo.catalog()}


async def test_a_saved_index_is_replayed_while_it_lacks_at_most_an_eighth_of_what_it_holds(
    repo: InMemoryRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_keeper, "REBUILD_MIN", 2)
    index = BruteForceIndex()
    svc = MemoryService(repo, index, HashingEmbedder())
    await svc.start()
    await svc.add([Message(role="user", content=f"note {i}") for i in range(16)], Scope("alice"), infer=False)
    await svc.keeper.snapshot()
    saved = index.saved
    await svc.add([Message(role="user", content=f"later {i}") for i in range(2)], Scope("alice"), infer=False)
    await svc.stop()
    stale = BruteForceIndex()
    stale.saved = saved
    report = await IndexKeeper(stale, repo).reconcile(await _sql_ids(repo))
    assert (report.rebuilt, report.replayed, report.total) == (False, 2, 18)
    assert await stale.ids() == await _sql_ids(repo)
    # one more than an eighth of 16: rebuilt from SQL, every memory read again, unless it lacks
    # fewer than REBUILD_MIN
    await MemoryService(repo, BruteForceIndex(), HashingEmbedder()).add(
        [Message(role="user", content="one more")], Scope("alice"), infer=False)
    for floor, rebuilt, replayed in ((4, False, 3), (3, True, 19)):
        monkeypatch.setattr(index_keeper, "REBUILD_MIN", floor)
        stale = BruteForceIndex()
        stale.saved = saved
        report = await IndexKeeper(stale, repo).reconcile(await _sql_ids(repo))
        assert (report.rebuilt, report.replayed, report.total) == (rebuilt, replayed, 19)
    assert await stale.ids() == await _sql_ids(repo)


async def test_a_saved_index_that_lacks_most_memories_is_rebuilt_ready_at_once_its_graph_built_after(
    repo: InMemoryRepository, tmp_path: Path, held_build: threading.Event
) -> None:
    import shutil

    embedder = HashingEmbedder(32)
    svc = MemoryService(repo, HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16), embedder)
    await svc.start()
    alice = Scope("alice")
    await svc.add([Message(role="user", content=f"note {i}") for i in range(200)], alice, infer=False)
    await svc.keeper.snapshot()
    shutil.copytree(tmp_path / "vectors", tmp_path / "saved")  # what a crash here would leave
    for n in range(6):
        await svc.add([Message(role="user", content=f"later {n} {i}") for i in range(200)], alice, infer=False)
    await svc.stop()
    index = HnswIndex(tmp_path / "saved", dimension=32, initial_capacity=16)
    report = await IndexKeeper(index, repo).reconcile(await _sql_ids(repo))
    assert (report.rebuilt, report.replayed, report.total) == (True, 1400, 1400)
    # ready with every memory, searched exactly, while its graph waits to be built
    assert index.building() is not None
    query = (await embedder.embed(["later 5 7"]))[0]  # only memories the snapshot lacked say "later"

    async def found() -> str:
        hit, score = (await index.nearest(query, 1))[0]
        assert score > 0.999
        return repo.rows[hit][0].text

    assert (await found()).startswith("later ")
    held_build.set()
    await index.settled()
    assert index.building() is None and (await found()).startswith("later ")
    await index.close()
