"""Memory exports as background jobs: a caller asks for the memories of a scope (and filter) in
an optional shape (memory/export_shape.py); a job is stored queued, runs in this process's
event loop, and its result (one JSON document) is stored with it, so any replica can answer
for it and it survives a restart.

The runner reads bounded pages of memories (the list path, oldest first), touching the job's
heartbeat after each. A job whose heartbeat is older than `stale_after_s` was orphaned by a
process that stopped or crashed: it is marked failed ("interrupted") at start and by the
periodic sweep of every replica, and the caller asks again (a job is cheap to recreate; resuming
would need the partial result kept somewhere). The sweep also deletes jobs past their retention."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from memory import filters as f
from memory.background import cancel
from memory.errors import AgentMemError, ExportTooLarge, NotFound
from memory.export_shape import check_schema, shaped
from memory.options import ExportOptions
from memory.models import ExportJob, ExportStatus, Feedback, MemoryId, MemoryRecord, Scope, new_id, utcnow
from memory.pagination import Page
from memory.ports import ExportStore, Order

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running the export stopped; create it again"


class Lister(Protocol):
    """What the runner reads memories with (MemoryReader.list_memories)."""

    async def __call__(self, scope: Scope | None, *, filters: f.Filter | None, first: int, after: str | None,
                       order: Order, include_invalidated: bool) -> Page[MemoryRecord]: ...


def overlaps(job_scope: Scope, erased: Scope) -> bool:
    """Whether an export of `job_scope` may hold memories of the (prefix) scope `erased`: every
    field both name agrees (an unnamed field is any value)."""
    return all(getattr(job_scope, f) is None or getattr(erased, f) is None or getattr(job_scope, f) == getattr(erased, f)
               for f in ("user_id", "agent_id", "run_id"))


class FeedbackReader(Protocol):
    """What the runner reads the feedback on a page of memories with (MemoryRepository.feedback)."""

    async def __call__(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, Feedback]: ...


class Exporter:
    def __init__(self, store: ExportStore, lister: Lister, options: ExportOptions = ExportOptions(),
                 feedback: FeedbackReader | None = None) -> None:
        self._store = store
        self._list = lister
        self._feedback = feedback
        self.options = options
        self._running: set[asyncio.Task[None]] = set()
        self._scopes: dict[asyncio.Task[None], Scope] = {}  # what each running job exports
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="export-sweeper")

    async def stop(self) -> None:
        await cancel(self._sweeper)
        self._sweeper = None
        for task in list(self._running):
            await cancel(task)  # left running in SQL: the next sweep (here or elsewhere) fails it

    async def create(self, scope: Scope, filters: f.Filter | None, schema: Any, actor: str | None) -> ExportJob:
        """Queue an export of `scope`'s memories matching `filters`; `schema` shapes each object."""
        checked = check_schema(schema)
        f.check_size(filters)
        now = utcnow()
        job = ExportJob(new_id(), scope, f.to_spec(filters), checked, ExportStatus.QUEUED, now, now, actor=actor)
        await self._store.put_export(job)
        task = asyncio.create_task(self._run(job), name=f"export-{job.id}")
        self._running.add(task)
        self._scopes[task] = scope
        task.add_done_callback(self._done)
        return job

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._scopes.pop(task, None)

    async def get(self, id: str) -> ExportJob:
        job = await self._store.get_export(id)
        if job is None:
            raise NotFound(f"export {id!r} does not exist")
        return job

    async def latest(self, scope: Scope) -> ExportJob:
        job = await self._store.latest_export(scope)
        if job is None:
            raise NotFound("no export of this scope: create one first")
        return job

    async def wait(self) -> None:
        """Until the jobs this process runs now are done (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def forget(self, scope: Scope) -> None:
        """Stop this process's jobs over `scope` and delete every job that may hold its memories
        (an erase: exports hold memories' text). A job over a wider scope (an admin's) goes too."""
        for task, job_scope in list(self._scopes.items()):
            if overlaps(job_scope, scope):
                await cancel(task)
        await self._store.delete_exports(scope)

    async def forget_all(self) -> None:
        """Stop this process's jobs and delete every job (a reset: exports hold memories' text)."""
        for task in list(self._running):
            await cancel(task)
        await self._store.prune_exports(utcnow() + timedelta(days=1))

    async def sweep(self) -> None:
        now = utcnow()
        failed = await self._store.fail_stale_exports(now - timedelta(seconds=self.options.stale_after_s),
                                                      INTERRUPTED, now)
        pruned = await self._store.prune_exports(now - timedelta(seconds=self.options.retention_s))
        if failed or pruned:
            log.info("exports: %d interrupted job(s) marked failed, %d expired job(s) deleted", failed, pruned)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.sweep_interval_s)
            try:
                await self.sweep()
            except AgentMemError as exc:  # SQL briefly down: the next round tries again
                log.warning("export sweep failed: %s", exc)

    async def _run(self, job: ExportJob) -> None:
        job = replace(job, status=ExportStatus.RUNNING, heartbeat_at=utcnow())
        try:
            await self._store.put_export(job)
            objects = await self._collect(job)
            text = await asyncio.to_thread(json.dumps, objects, ensure_ascii=False)  # megabytes: off the loop
            job = replace(job, status=ExportStatus.COMPLETED, result=text, count=len(objects))
        except asyncio.CancelledError:
            raise
        except AgentMemError as exc:
            job = replace(job, status=ExportStatus.FAILED, error=exc.public)
        except Exception as exc:  # a bug must still end the job, not leave it running until the sweep
            log.exception("export %s failed", job.id)
            job = replace(job, status=ExportStatus.FAILED, error=f"internal error ({type(exc).__name__})")
        now = utcnow()
        try:
            await self._store.put_export(replace(job, finished_at=now, heartbeat_at=now))
        except AgentMemError as exc:
            log.warning("export %s finished but could not be stored (%s); the sweep will fail it", job.id, exc)

    async def _collect(self, job: ExportJob) -> list[dict[str, Any]]:
        flt = f.parse_filter(job.filters)
        scope = None if job.scope.is_empty else job.scope
        out: list[dict[str, Any]] = []
        after: str | None = None
        cap = self.options.max_memories
        while True:
            page = await self._list(scope, filters=flt, first=self.options.page_size, after=after,
                                    order=Order.CREATED_ASC, include_invalidated=False)
            if len(out) + len(page.items) > cap:
                raise ExportTooLarge(cap)
            schema: Mapping[str, Any] | None = job.schema
            given = await self._feedback([r.id for r in page.items]) if self._feedback and page.items else {}
            out.extend(shaped(record, schema, given.get(record.id)) for record in page.items)
            if not page.has_next:
                return out
            after = page.end_cursor
            await self._store.put_export(replace(job, heartbeat_at=utcnow()))
