"""SqlWebhookStore: webhooks and their delivery outbox in SQL (memory.webhooks.WebhookStore)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from history.connections import SqlConnections
from history.webhook_tables import webhook_deliveries, webhooks
from memory.events import EventKind
from memory.models import Scope
from memory.webhooks import Delivery, DeliveryStatus, Outcome, Webhook

_FINISHED = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)


class SqlWebhookStore:
    """On PostgreSQL a claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
    RETURNING`: concurrent claimers (replicas) skip each other's rows instead of waiting or
    taking them twice. SQLite has one writer at a time, so the same statement is atomic there."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sql = SqlConnections(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def add_webhook(self, hook: Webhook) -> None:
        async with self._sql.writing() as conn:
            await conn.execute(webhooks.insert().values(**_webhook_values(hook)))

    async def get_webhooks(self, ids: Sequence[str]) -> dict[str, Webhook]:
        if not ids:
            return {}
        async with self._sql.reading() as conn:
            rows = (await conn.execute(sa.select(webhooks).where(webhooks.c.id.in_(list(ids))))).all()
        return {row.id: _webhook(row) for row in rows}

    async def list_webhooks(self) -> list[Webhook]:
        async with self._sql.reading() as conn:
            rows = (await conn.execute(sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id))).all()
        return [_webhook(row) for row in rows]

    async def put_webhook(self, hook: Webhook) -> bool:
        values = _webhook_values(hook)
        del values["id"], values["created_at"], values["created_by"]
        async with self._sql.writing() as conn:
            done = await conn.execute(webhooks.update().where(webhooks.c.id == hook.id).values(**values))
        return bool(done.rowcount)

    async def delete_webhook(self, id: str) -> bool:
        async with self._sql.writing() as conn:
            await conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == id))
            done = await conn.execute(webhooks.delete().where(webhooks.c.id == id))
        return bool(done.rowcount)

    async def enqueue(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self._sql.writing() as conn:
            await conn.execute(webhook_deliveries.insert(), [delivery_values(d) for d in deliveries])

    async def claim(self, now: datetime, lease_until: datetime, limit: int, skip: Sequence[str]) -> list[Delivery]:
        due = (sa.select(webhook_deliveries.c.id)
               .where(webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
                      webhook_deliveries.c.next_attempt_at <= now)
               .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
               .limit(limit)
               .with_for_update(skip_locked=True))
        if skip:
            due = due.where(webhook_deliveries.c.webhook_id.not_in(list(skip)))
        statement = (webhook_deliveries.update()
                     .where(webhook_deliveries.c.id.in_(due.scalar_subquery()))
                     .values(next_attempt_at=lease_until)
                     .returning(*webhook_deliveries.c))
        # a read first: an idle outbox (the usual case, polled every second) then costs no write lock
        probe = sa.select(webhook_deliveries.c.id).where(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now).limit(1)
        async with self._sql.reading() as conn:
            if (await conn.execute(probe)).first() is None:
                return []
        async with self._sql.writing() as conn:
            rows = (await conn.execute(statement)).all()
        return sorted((_delivery(row, next_attempt_at=now) for row in rows), key=lambda d: (d.created_at, d.id))

    async def release(self, ids: Sequence[str], now: datetime) -> None:
        async with self._sql.writing() as conn:
            await conn.execute(webhook_deliveries.update().where(webhook_deliveries.c.id.in_(list(ids)))
                               .values(next_attempt_at=now))

    async def finish(self, id: str, outcome: Outcome) -> None:
        async with self._sql.writing() as conn:
            await conn.execute(webhook_deliveries.update().where(webhook_deliveries.c.id == id).values(
                status=outcome.status.value, attempts=outcome.attempts, next_attempt_at=outcome.next_attempt_at,
                last_status_code=outcome.status_code, last_error=outcome.error, updated_at=outcome.at))

    async def deliveries(self, webhook_id: str, status: DeliveryStatus | None, limit: int,
                         before: datetime | None) -> list[Delivery]:
        query = (sa.select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
                 .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id.desc()).limit(limit))
        if status is not None:
            query = query.where(webhook_deliveries.c.status == status.value)
        if before is not None:
            query = query.where(webhook_deliveries.c.created_at < before)
        async with self._sql.reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_delivery(row) for row in rows]

    async def prune(self, finished_before: datetime) -> int:
        async with self._sql.writing() as conn:
            done = await conn.execute(webhook_deliveries.delete().where(
                webhook_deliveries.c.status.in_(_FINISHED), webhook_deliveries.c.updated_at < finished_before))
        return int(done.rowcount or 0)

    async def pending_count(self) -> int:
        query = sa.select(sa.func.count()).select_from(webhook_deliveries).where(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
        async with self._sql.reading() as conn:
            return int((await conn.execute(query)).scalar_one())


def _webhook_values(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "name": hook.name, "url": hook.url, "event_types": sorted(k.value for k in hook.kinds),
            "user_id": hook.scope.user_id, "agent_id": hook.scope.agent_id, "run_id": hook.scope.run_id,
            "active": hook.active, "secret": hook.secret, "created_by": hook.created_by,
            "created_at": hook.created_at, "updated_at": hook.updated_at}


def _webhook(row: Any) -> Webhook:
    return Webhook(row.id, row.name, row.url, frozenset(EventKind(k) for k in row.event_types),
                   Scope(row.user_id, row.agent_id, row.run_id), bool(row.active), row.created_at, row.updated_at,
                   row.created_by, row.secret)


def delivery_values(d: Delivery) -> dict[str, Any]:
    """The row of a delivery (also written by SqlMemoryRepository, in a memory change's transaction)."""
    return {"id": d.id, "webhook_id": d.webhook_id, "event_id": d.event_id, "kind": d.kind.value, "body": d.body,
            "status": d.status.value, "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
            "last_status_code": d.last_status_code, "last_error": d.last_error, "created_at": d.created_at,
            "updated_at": d.updated_at, "memory_id": d.memory_id, "user_id": d.scope.user_id,
            "agent_id": d.scope.agent_id, "run_id": d.scope.run_id}


def _delivery(row: Any, next_attempt_at: datetime | None = None) -> Delivery:
    return Delivery(row.id, row.webhook_id, row.event_id, EventKind(row.kind), row.body, DeliveryStatus(row.status),
                    row.attempts, next_attempt_at or row.next_attempt_at, row.created_at, row.updated_at,
                    row.last_status_code, row.last_error, row.memory_id, Scope(row.user_id, row.agent_id, row.run_id))
