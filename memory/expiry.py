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
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Awaitable, Callable

from memory.background import cancel
from memory.errors import AgentMemError, InvalidInput

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
            if swept:
                log.info("expiry sweep: %d memories expired", swept)
