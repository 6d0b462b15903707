"""Memory exports in the core: the job's life (queued, running, completed or failed), who may
see it, the filter kept as data, the shape of each object, orphaned jobs and retention."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from memory import filters as f
from memory.access import Principal, Role
from memory.errors import InvalidInput, NotFound
from memory.export_shape import shaped
from memory.exports import INTERRUPTED
from memory.guarded import GuardedMemoryService
from memory.models import ExportStatus, MemoryRecord, Message, Scope, utcnow
from memory.options import ExportOptions
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.exports import InMemoryExportStore
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ADMIN = Principal("admin", Role.ADMIN)
ALICE = Principal("alice-key", Role.USER, user_id="alice")
BOB = Principal("bob-key", Role.USER, user_id="bob")


@pytest.fixture
def store() -> InMemoryExportStore:
    return InMemoryExportStore()


@pytest.fixture
async def service(store: InMemoryExportStore) -> AsyncIterator[MemoryService]:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), exports=store,
                        options=ServiceOptions(max_limit=2, exports=ExportOptions(max_memories=50)))
    await svc.start()
    yield svc
    await svc.stop()


async def remember(svc: MemoryService, text: str, scope: Scope, **meta: object) -> None:
    await svc.add([Message("user", text)], scope, infer=False, metadata=meta)


async def test_a_user_exports_only_its_own_memories_and_sees_only_its_own_jobs(service: MemoryService) -> None:
    for i in range(5):  # more than one page (max_limit 2)
        await remember(service, f"alice fact {i}", Scope("alice", "tutor" if i % 2 else None))
    await remember(service, "bob fact", Scope("bob"))
    alice, bob = GuardedMemoryService(service, ALICE), GuardedMemoryService(service, BOB)
    job = await alice.create_export(None)
    assert job.scope == Scope("alice") and job.status is ExportStatus.QUEUED and job.actor == "alice-key"
    assert service.exports is not None
    await service.exports.wait()
    done = await alice.export(job.id)
    assert done.status is ExportStatus.COMPLETED and done.count == 5 and done.finished_at is not None
    with pytest.raises(NotFound):
        await bob.export(job.id)
    assert (await GuardedMemoryService(service, ADMIN).export(job.id)).id == job.id
    assert (await alice.latest_export(None)).id == job.id
    with pytest.raises(NotFound):
        await bob.latest_export(None)


async def test_the_filter_is_stored_as_data_and_applied_by_the_runner(service: MemoryService,
                                                                     store: InMemoryExportStore) -> None:
    await remember(service, "I love pizza", Scope("alice"), topic="food")
    await remember(service, "I live in Paris", Scope("alice"), topic="home")
    tree = f.All((f.condition("topic", "eq", "food"), f.condition("created_at", "gte", "2000-01-01")))
    job = await GuardedMemoryService(service, ADMIN).create_export(Scope("alice"), filters=tree)
    assert f.parse_filter(store.jobs[job.id].filters) == tree  # what another replica would read back
    assert service.exports is not None
    await service.exports.wait()
    done = store.jobs[job.id]
    assert done.count == 1 and '"I love pizza"' in (done.result or "")


async def test_an_unusable_schema_is_refused_before_a_job_exists(service: MemoryService,
                                                                 store: InMemoryExportStore) -> None:
    with pytest.raises(InvalidInput, match="properties"):
        await GuardedMemoryService(service, ADMIN).create_export(Scope("alice"), schema={"type": "object"})
    assert store.jobs == {}


async def test_orphaned_jobs_fail_at_start_and_old_ones_are_pruned(store: InMemoryExportStore) -> None:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), exports=store,
                        options=ServiceOptions(exports=ExportOptions(retention_s=3600, stale_after_s=60)))
    await svc.start()
    try:
        guarded = GuardedMemoryService(svc, ADMIN)
        orphan = await guarded.create_export(Scope("alice"))
        expired = await guarded.create_export(Scope("alice"))
        assert svc.exports is not None
        await svc.exports.wait()
    finally:
        await svc.stop()
    long_ago = utcnow() - timedelta(seconds=120)
    # as a process that crashed mid-run leaves it: running, last touched two minutes ago
    store.jobs[orphan.id] = dataclasses.replace(store.jobs[orphan.id], status=ExportStatus.RUNNING, result=None,
                                                heartbeat_at=long_ago, finished_at=None)
    store.jobs[expired.id] = dataclasses.replace(store.jobs[expired.id], created_at=long_ago - timedelta(hours=2))
    restarted = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), exports=store,
                              options=ServiceOptions(exports=ExportOptions(retention_s=3600, stale_after_s=60)))
    await restarted.start()
    await restarted.stop()
    assert store.jobs[orphan.id].status is ExportStatus.FAILED and store.jobs[orphan.id].error == INTERRUPTED
    assert expired.id not in store.jobs


async def test_stopping_cancels_a_running_export_and_leaves_it_for_the_sweep(store: InMemoryExportStore) -> None:
    gate = asyncio.Event()
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), exports=store)
    await svc.start()
    real = svc.reader.list_memories

    async def held(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        await gate.wait()
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    assert svc.exports is not None
    svc.exports._list = held  # the job blocks in its first page read
    job = await GuardedMemoryService(svc, ADMIN).create_export(Scope("alice"))
    while store.jobs[job.id].status is not ExportStatus.RUNNING:
        await asyncio.sleep(0)
    await svc.stop()
    assert store.jobs[job.id].status is ExportStatus.RUNNING and store.jobs[job.id].finished_at is None


def record(**changes: object) -> MemoryRecord:
    at = datetime(2025, 5, 1, 12, tzinfo=UTC)
    base = MemoryRecord("m1", "I love pizza", "h", Scope("alice", "tutor"),
                        {"topic": "food", "trip": {"city": "Rome", "days": 3}, "tags": [{"k": "a", "x": 1}, "raw"]},
                        at, at, categories=("food",), occurred_at=at - timedelta(days=1))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_default_object_holds_the_memorys_fields() -> None:
    obj = shaped(record(), None)
    assert obj["text"] == "I love pizza" and obj["user_id"] == "alice" and obj["agent_id"] == "tutor"
    assert obj["categories"] == ["food"] and obj["event_time"] == "2025-04-30T12:00:00+00:00"
    assert obj["metadata"]["topic"] == "food"


def test_a_schema_projects_fields_metadata_nested_objects_and_items() -> None:
    schema = {"properties": {
        "memory": {}, "topic": {}, "absent": {"type": "string"},
        "trip": {"properties": {"city": {}, "country": {}}},
        "who": {"type": "object", "properties": {"user_id": {}, "run_id": {}}},
        "tags": {"type": "array", "items": {"properties": {"k": {}}}},
        "categories": {"items": {"type": "string"}},
        "memory_is_not_an_object": {"properties": {"x": {}}},
    }}
    obj = shaped(record(metadata={**record().metadata, "memory_is_not_an_object": 5}), schema)
    assert obj == {
        "memory": "I love pizza", "topic": "food", "absent": None,
        "trip": {"city": "Rome", "country": None},
        "who": {"user_id": "alice", "run_id": None},
        "tags": [{"k": "a"}, None],
        "categories": ["food"],
        "memory_is_not_an_object": None,
    }


def test_to_spec_round_trips_every_kind_of_node() -> None:
    tree = f.All((
        f.AnyOf((f.condition("user_id", "eq", "alice"), f.condition("metadata.n", "in", [1, 2]))),
        f.Not(f.condition("categories", "contains", "spam")),
        f.condition("updated_at", "lt", "2025-01-01T00:00:00Z"),
    ))
    assert f.parse_filter(f.to_spec(tree)) == tree
    assert f.to_spec(None) is None


async def test_reset_deletes_every_export(service: MemoryService, store: InMemoryExportStore) -> None:
    await remember(service, "I love pizza", Scope("alice"))
    await GuardedMemoryService(service, ADMIN).create_export(Scope("alice"))
    assert service.exports is not None
    await service.exports.wait()
    await service.reset()
    assert store.jobs == {}


async def test_erasing_a_scope_deletes_the_exports_that_hold_its_text(service: MemoryService,
                                                                       store: InMemoryExportStore) -> None:
    await remember(service, "alice secret", Scope("alice"))
    await remember(service, "bob fact", Scope("bob"))
    alice, bob = GuardedMemoryService(service, ALICE), GuardedMemoryService(service, BOB)
    mine, theirs = await alice.create_export(None), await bob.create_export(None)
    assert service.exports is not None
    await service.exports.wait()
    await service.delete_all(Scope("alice"), purge=True)
    assert set(store.jobs) == {theirs.id}  # bob's export is untouched
    with pytest.raises(NotFound):
        await alice.export(mine.id)
    await remember(service, "alice again", Scope("alice"))
    (kept,) = (await service.list_memories(Scope("alice"), first=2)).items
    again = await alice.create_export(None)
    await service.exports.wait()
    await service.delete(kept.id, purge=True)  # one memory erased: its scope's exports go as well
    assert again.id not in store.jobs and theirs.id in store.jobs
