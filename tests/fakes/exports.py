"""An in-memory ExportStore for unit tests; tests/contract holds it to SqlExportStore."""
from __future__ import annotations

from datetime import datetime
from dataclasses import replace

from memory.exports import overlaps
from memory.models import ExportJob, ExportStatus, Scope

_OPEN = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class InMemoryExportStore:
    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}

    async def put_export(self, job: ExportJob) -> None:
        self.jobs[job.id] = job

    async def get_export(self, id: str) -> ExportJob | None:
        return self.jobs.get(id)

    async def latest_export(self, scope: Scope) -> ExportJob | None:
        same = [j for j in self.jobs.values() if j.scope == scope]
        return max(same, key=lambda j: (j.created_at, j.id), default=None)

    async def fail_stale_exports(self, before: datetime, error: str, at: datetime) -> int:
        stale = [j for j in self.jobs.values() if j.status in _OPEN and j.heartbeat_at < before]
        for job in stale:
            self.jobs[job.id] = replace(job, status=ExportStatus.FAILED, error=error, finished_at=at)
        return len(stale)

    async def delete_exports(self, scope: Scope) -> int:
        gone = [id for id, j in self.jobs.items() if overlaps(j.scope, scope)]
        for id in gone:
            del self.jobs[id]
        return len(gone)

    async def prune_exports(self, before: datetime) -> int:
        old = [id for id, j in self.jobs.items() if j.created_at < before]
        for id in old:
            del self.jobs[id]
        return len(old)
