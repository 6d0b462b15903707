"""Memories that expire: reading an expiration date, and the sweep that writes expired memories' end.

Reads leave a memory out from the moment its `expires_at` passes (the scope catalog, the
searcher and the reader all compare it with the clock); the sweep comes later and makes it
lasting in SQL: it invalidates the memory (reason "expired") or deletes it, with history and
events like any other invalidation or deletion.

A date without a time (mem0's "YYYY-MM-DD") means the memory holds through that whole day,
UTC: it expires at the next midnight UTC."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Awaitable, Callable

from memory.background import cancel
from memory.catalog import ScopeCatalog
from memory.committer import Committer
from memory.errors import AgentMemError, InvalidInput
from memory.events import EventKind, MemoryEvent
from memory.models import ChangeEvent, HistoryEntry, MemoryRecord, Relation, StoredMemory
from memory.ports import ChangeSet, MemoryRepository

log = logging.getLogger(__name__)

EXPIRED = "expired"  # the reason in history and on an invalidated memory
ACTIONS = ("invalidate", "delete")


class Keep(Enum):
    """An update that leaves the expiry as it is (None clears it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def expiry_from(value: date | datetime | str | None, what: str = "expiration_date") -> datetime | None:
    """An expiry as aware UTC: a date expires at the end of that day (UTC), a time at that time
    (a naive time is read as UTC). Raises InvalidInput for anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{what} must be a date (YYYY-MM-DD) or an ISO-8601 time, got {value!r}") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), tzinfo=UTC)
    raise InvalidInput(f"{what} must be a date (YYYY-MM-DD) or an ISO-8601 time")


def check_future(at: datetime | None, now: datetime, what: str = "expiration_date") -> datetime | None:
    """A new expiry must lie ahead: a memory that would be born expired is a caller's mistake."""
    if at is not None and at <= now:
        raise InvalidInput(f"{what} {at.isoformat()} has already passed: give a later date or time")
    return at


class Expirer:
    """Writes the end of expired memories: invalidated (reason "expired") or deleted, per
    `action`, with history and events. `delete` and `retire` are the service's own deletion
    (history, events) and the retirement of the relations the memories alone supported."""

    def __init__(
        self, repo: MemoryRepository, catalog: ScopeCatalog, committer: Committer, action: str, *,
        delete: Callable[..., Awaitable[None]],
        retire: Callable[[list[str], datetime], Awaitable[list[Relation]]],
    ) -> None:
        self._repo = repo
        self._catalog = catalog
        self._committer = committer
        self._action = action
        self._delete = delete
        self._retire = retire

    async def expire_due(self, limit: int) -> int:
        """Up to `limit` memories whose expiry has come; returns how many it wrote."""
        now = self._catalog.now()
        ids = sorted(self._catalog.expired(now))[:limit]
        if not ids:
            return 0
        # read fresh: another replica's sweep (or a caller) may have got there first
        due = [r for r in (await self._repo.get_many(ids)).values() if r.valid and r.expired(now)]
        if due and self._action == "delete":
            await self._delete(due, None, reason=EXPIRED)
            return len(due)
        return await self._invalidate(due, now) if due else 0

    async def _invalidate(self, due: list[MemoryRecord], now: datetime) -> int:
        kept = await self._repo.embeddings([r.id for r in due])
        due = [r for r in due if r.id in kept]  # deleted meanwhile: nothing left to invalidate
        if not due:
            return 0
        change = ChangeSet()
        events: list[MemoryEvent] = []
        for old in due:
            rec = replace(old, invalidated_at=now, invalidation_reason=EXPIRED, updated_at=now)
            change.writes.append(StoredMemory(rec, kept[old.id]))
            change.history.append(HistoryEntry(old.id, ChangeEvent.INVALIDATE, old.text, old.text, old.scope, now,
                                               reason=EXPIRED))
            events.append(MemoryEvent(EventKind.INVALIDATE, old.scope, old.id, rec, old.text))
        await self._committer.commit(change, [], events)  # with the events: their webhooks go in the same commit
        invalid = await self._retire([r.id for r in due], now)
        await self._committer.publish(events, [], invalid)
        return len(due)


class ExpirySweep:
    """Runs `sweep` (the service's expire_due) every `interval_s` seconds until stopped."""

    def __init__(self, sweep: Callable[[], Awaitable[int]], interval_s: float) -> None:
        self._sweep = sweep
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="expiry-sweep")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                swept = await self._sweep()
            except AgentMemError as exc:  # a store that is down: the next round tries again
                log.warning("expiry sweep failed, retrying in %.0f s: %s", self._interval_s, exc)
                continue
            except Exception:  # a bug must not end the sweep for good: expired memories would stay valid
                log.exception("expiry sweep failed, retrying in %.0f s", self._interval_s)
                continue
            if swept:
                log.info("expiry sweep: %d memories expired", swept)
