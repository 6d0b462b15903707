"""SqlExportStore: memory export jobs in SQL (memory.ports.ExportStore), on SQLite or PostgreSQL."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from history.connections import SqlConnections
from history.export_tables import memory_exports as t
from memory.models import ExportJob, ExportStatus, Scope

_OPEN = (ExportStatus.QUEUED.value, ExportStatus.RUNNING.value)


class SqlExportStore:
    """Shares the memory repository's engine: jobs are written a few times each (queued, one
    heartbeat per page, finished) and read when a caller polls."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sql = SqlConnections(engine)

    async def put_export(self, job: ExportJob) -> None:
        values = _values(job)
        async with self._sql.writing() as conn:
            changed = await conn.execute(t.update().where(t.c.id == job.id).values(**values))
            if changed.rowcount == 0:
                await conn.execute(t.insert().values(id=job.id, **values))

    async def get_export(self, id: str) -> ExportJob | None:
        async with self._sql.reading() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.id == id))).first()
        return _job(row) if row else None

    async def latest_export(self, scope: Scope) -> ExportJob | None:
        same = [t.c[name].is_(None) if getattr(scope, name) is None else t.c[name] == getattr(scope, name)
                for name in ("user_id", "agent_id", "run_id")]
        query = sa.select(t).where(*same).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(1)
        async with self._sql.reading() as conn:
            row = (await conn.execute(query)).first()
        return _job(row) if row else None

    async def fail_stale_exports(self, before: datetime, error: str, at: datetime) -> int:
        async with self._sql.writing() as conn:
            changed = await conn.execute(
                t.update().where(t.c.status.in_(_OPEN), t.c.heartbeat_at < before)
                .values(status=ExportStatus.FAILED.value, error=error, finished_at=at))
        return int(changed.rowcount or 0)

    async def delete_exports(self, scope: Scope) -> int:
        overlapping = [sa.or_(t.c[name].is_(None), t.c[name] == value)
                       for name in ("user_id", "agent_id", "run_id") if (value := getattr(scope, name)) is not None]
        async with self._sql.writing() as conn:
            changed = await conn.execute(t.delete().where(*overlapping))
        return int(changed.rowcount or 0)

    async def prune_exports(self, before: datetime) -> int:
        async with self._sql.writing() as conn:
            changed = await conn.execute(t.delete().where(t.c.created_at < before))
        return int(changed.rowcount or 0)


def _values(job: ExportJob) -> dict[str, Any]:
    return {
        "user_id": job.scope.user_id, "agent_id": job.scope.agent_id, "run_id": job.scope.run_id,
        "filters": dict(job.filters) if job.filters is not None else None,
        "schema": dict(job.schema) if job.schema is not None else None,
        "status": job.status.value, "actor": job.actor, "created_at": job.created_at,
        "heartbeat_at": job.heartbeat_at, "finished_at": job.finished_at, "error": job.error,
        "count": job.count, "result": job.result,
    }


def _job(row: Any) -> ExportJob:
    m = row._mapping
    return ExportJob(
        id=m["id"], scope=Scope(m["user_id"], m["agent_id"], m["run_id"]), filters=m["filters"],
        schema=m["schema"], status=ExportStatus(m["status"]), created_at=m["created_at"],
        heartbeat_at=m["heartbeat_at"], actor=m["actor"], finished_at=m["finished_at"], error=m["error"],
        count=m["count"], result=m["result"],
    )
