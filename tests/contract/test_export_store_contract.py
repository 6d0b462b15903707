"""The ExportStore contract, run against the in-memory fake and SqlExportStore (SQLite and PostgreSQL)."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from history.engine import create_engine
from history.exports import SqlExportStore
from memory.models import ExportJob, ExportStatus, Scope, new_id, utcnow
from tests.fakes.exports import InMemoryExportStore


@pytest.fixture
async def any_export_store(repository_url: str | None) -> AsyncIterator[object]:
    if repository_url is None:
        yield InMemoryExportStore()
        return
    engine = create_engine(repository_url)
    try:
        yield SqlExportStore(engine)
    finally:
        await engine.dispose()


def job(scope: Scope, age_s: float = 0, **changes: object) -> ExportJob:
    at = utcnow() - timedelta(seconds=age_s)
    made = ExportJob(new_id(), scope, {"AND": [{"metadata.topic": {"eq": "food"}}]}, {"properties": {"id": {}}},
                     ExportStatus.QUEUED, at, at, actor="key-1")
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


async def test_a_job_reads_back_as_written_and_is_replaced_by_id(any_export_store) -> None:
    queued = job(Scope("alice", "tutor"))
    await any_export_store.put_export(queued)
    assert await any_export_store.get_export(queued.id) == queued
    done = dataclasses.replace(queued, status=ExportStatus.COMPLETED, result='[{"id": "m1"}]', count=1,
                               finished_at=utcnow())
    await any_export_store.put_export(done)
    assert await any_export_store.get_export(queued.id) == done
    assert await any_export_store.get_export("no-such-export") is None


async def test_latest_is_the_newest_job_of_exactly_that_scope(any_export_store) -> None:
    old, new = job(Scope("alice"), 20), job(Scope("alice"), 10)
    other = job(Scope("alice", "tutor"))
    for j in (old, new, other):
        await any_export_store.put_export(j)
    assert (await any_export_store.latest_export(Scope("alice"))).id == new.id
    assert (await any_export_store.latest_export(Scope("alice", "tutor"))).id == other.id
    assert await any_export_store.latest_export(Scope()) is None


async def test_stale_open_jobs_fail_and_old_jobs_are_pruned(any_export_store) -> None:
    stale = job(Scope("u"), 600, status=ExportStatus.RUNNING)
    fresh = job(Scope("u"), 0, status=ExportStatus.RUNNING)
    done = job(Scope("u"), 600, status=ExportStatus.COMPLETED)
    for j in (stale, fresh, done):
        await any_export_store.put_export(j)
    now = utcnow()
    assert await any_export_store.fail_stale_exports(now - timedelta(seconds=60), "interrupted", now) == 1
    failed = await any_export_store.get_export(stale.id)
    assert failed.status is ExportStatus.FAILED and failed.error == "interrupted" and failed.finished_at == now
    assert (await any_export_store.get_export(fresh.id)).status is ExportStatus.RUNNING
    assert await any_export_store.prune_exports(now - timedelta(seconds=300)) == 2
    assert await any_export_store.get_export(fresh.id) is not None and await any_export_store.get_export(done.id) is None


async def test_deleting_a_scopes_exports_takes_every_job_that_may_hold_its_memories(any_export_store) -> None:
    jobs = {name: job(scope) for name, scope in {
        "alice": Scope("alice"), "alice_tutor": Scope("alice", "tutor"), "everyone": Scope(),
        "tutor": Scope(agent_id="tutor"), "bob": Scope("bob"), "alice_coach": Scope("alice", "coach"),
    }.items()}
    for j in jobs.values():
        await any_export_store.put_export(j)
    assert await any_export_store.delete_exports(Scope("alice", "tutor")) == 4
    left = {name for name, j in jobs.items() if await any_export_store.get_export(j.id) is not None}
    assert left == {"bob", "alice_coach"}
