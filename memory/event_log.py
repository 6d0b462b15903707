"""A bounded, numbered record of the latest events, so that a stream client that reconnects can
resume after the last event it saw (SSE's Last-Event-ID) instead of silently missing changes.

Every event the bus sees (local or from another replica) is appended with the next sequence
number. Ids are `<epoch>-<seq>`: the epoch changes at every start, so an id from before a
restart (or from another replica behind a load balancer) is recognised as unknown instead of
being matched to an unrelated event. When the requested position has left the buffer, or is
unknown, the reader is told so with a `Gap` before it continues with what is still there."""
from __future__ import annotations

import asyncio
import secrets
from collections import deque
from dataclasses import dataclass

from memory.events import EventKind, MemoryEvent, matches
from memory.models import Scope


@dataclass(frozen=True, slots=True)
class Logged:
    id: str
    event: MemoryEvent


@dataclass(frozen=True, slots=True)
class Gap:
    """Events after `after` may have been missed: `reason` is "expired" (they left the buffer)
    or "unknown" (the id is not from this log: another start or another replica)."""

    after: str
    reason: str
    oldest: str | None  # the oldest id still kept, if any


class EventLog:
    def __init__(self, size: int, epoch: str | None = None) -> None:
        if size < 1:
            raise ValueError("an event log keeps at least one event")
        self.epoch = epoch or secrets.token_hex(4)
        self._entries: deque[tuple[int, MemoryEvent]] = deque(maxlen=size)
        self._last = 0
        self._tick = asyncio.Event()

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self._last}"

    def append(self, event: MemoryEvent) -> None:
        self._last += 1
        self._entries.append((self._last, event))
        # wake every waiting reader, and give later waiters a fresh event to wait on
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def sink(self, event: MemoryEvent) -> None:
        """The EventBus sink form of `append`."""
        self.append(event)

    def reader(self, scope: Scope | None, kinds: frozenset[EventKind] | None, after: str | None) -> LogReader:
        """A reader of the events `scope` and `kinds` select, from just after `after` (an id
        this log gave out) or, without one, from now on."""
        return LogReader(self, scope, kinds, after)

    def _id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def _position(self, after: str) -> int | None:
        epoch, _, seq = after.rpartition("-")
        if epoch != self.epoch or not seq.isdigit() or int(seq) > self._last:
            return None
        return int(seq)


class LogReader:
    def __init__(self, log: EventLog, scope: Scope | None, kinds: frozenset[EventKind] | None,
                 after: str | None) -> None:
        self._log, self._scope, self._kinds = log, scope, kinds
        self._cursor = log._last
        self._pending_gap: Gap | None = None
        if after is not None:
            position = log._position(after)
            if position is None:  # whatever happened since, the buffer's whole content may be news
                self._pending_gap = Gap(after, "unknown", self._oldest())
                self._cursor = log._entries[0][0] - 1 if log._entries else log._last
            else:
                self._cursor = position

    def _oldest(self) -> str | None:
        entries = self._log._entries
        return self._log._id(entries[0][0]) if entries else None

    def take(self) -> list[Logged | Gap]:
        """What is there to send now, in order (without waiting)."""
        out: list[Logged | Gap] = []
        if self._pending_gap is not None:
            out.append(self._pending_gap)
            self._pending_gap = None
        entries = self._log._entries
        if entries and entries[0][0] > self._cursor + 1:  # some left the buffer unread
            out.append(Gap(self._log._id(self._cursor), "expired", self._oldest()))
        fresh: list[Logged | Gap] = []
        for seq, event in reversed(entries):  # newest first: stop at what was already read
            if seq <= self._cursor:
                break
            if matches(event, self._scope, self._kinds):
                fresh.append(Logged(self._log._id(seq), event))
        self._cursor = self._log._last
        return out + fresh[::-1]

    async def wait(self, timeout: float) -> bool:
        """Until something new is logged (True) or `timeout` seconds pass (False)."""
        if self._log._last > self._cursor:
            return True
        tick = self._log._tick
        try:
            async with asyncio.timeout(timeout):
                await tick.wait()
        except TimeoutError:
            return False
        return True
