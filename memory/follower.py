"""Following SQL for changes made by other processes sharing the database (replicas behind a
load balancer on one PostgreSQL, or a CLI import): their writes reach this process's vector
index and owner catalog as soon as their event arrives (`poke`, from the cross-replica fan-out)
and within `interval_s` at the latest (the safety net when an event is lost), so every replica
finds every memory.

A catch-up holds the write gate exclusively: a local write that is committed but not yet in
the index could otherwise be overtaken by an older row read here."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable

from memory.background import cancel
from memory.rwlock import RWLock
from memory.index_keeper import drop_extra, restore_missing
from memory.ports import MemoryRepository, VectorIndex
from memory.views import MemoryViews

log = logging.getLogger(__name__)

_PAGE = 1000


class SqlFollower:
    def __init__(
        self, repo: MemoryRepository, index: VectorIndex, views: MemoryViews, gate: RWLock,
        interval_s: float, on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._index = index
        self._views = views
        self._gate = gate
        self._interval = interval_s
        self._on_change = on_change
        self._seen = 0
        # seqs this process committed itself: already in the index, skipped when following
        self._own: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.applied = 0

    async def mark(self) -> None:
        """Everything up to SQL's current seq is already reflected here."""
        self._seen = await self._repo.max_seq()

    def own(self, last_seq: int, memory_ids: list[str]) -> None:
        """This process committed history entries for `memory_ids`, in order, ending at
        `last_seq` (one commit's seqs are contiguous: commits drawing seqs are serialised). The
        id is kept with the seq, so a wrong guess can never hide another process's change."""
        first = last_seq - len(memory_ids) + 1
        for seq, mid in zip(range(first, last_seq + 1), memory_ids):
            if seq > self._seen:
                self._own[seq] = mid

    async def _foreign_pending(self) -> bool:
        """A cheap look without the gate: is there anything not written by this process?"""
        current = await self._repo.max_seq()
        if current < self._seen:
            return True
        changes = await self._repo.changed_since(self._seen, _PAGE)
        if any(self._own.get(seq) != mid for seq, mid in changes):
            return True
        if changes and len(changes) < _PAGE:  # only our own writes: just move past them
            self._forget_own_up_to(changes[-1][0])
        return len(changes) == _PAGE

    def _forget_own_up_to(self, seq: int) -> None:
        self._seen = max(self._seen, seq)
        self._own = {s: m for s, m in self._own.items() if s > self._seen}

    async def catch_up(self) -> int:
        """Apply what others changed since the last look; returns how many memories it touched."""
        if not await self._foreign_pending():
            return 0
        async with self._gate.exclusive():  # re-read under the gate: own() may have landed
            current = await self._repo.max_seq()
            if current < self._seen:  # history was wiped (a reset elsewhere): resync wholesale
                return await self._resync(current)
            touched = 0
            while changes := await self._repo.changed_since(self._seen, _PAGE):
                ids = sorted({mid for seq, mid in changes if self._own.get(seq) != mid})
                if ids:
                    await self._apply(ids)
                touched += len(ids)
                self._forget_own_up_to(changes[-1][0])
            if touched:
                self._on_change()
            self.applied += touched
            return touched

    async def _apply(self, ids: list[str]) -> None:
        records = await self._repo.get_many(ids)
        gone = [id for id in ids if id not in records]
        vectors = await self._repo.embeddings([id for id in ids if id in records])
        self._views.apply(records.values(), gone)
        if vectors:
            await self._index.upsert(list(vectors.items()))
        if gone:
            await self._index.remove(gone)

    async def _resync(self, current: int) -> int:
        live = await self._views.reload(self._repo)
        changed = await drop_extra(self._index, live) + await restore_missing(self._index, self._repo, live)
        self._seen = current
        self._own.clear()
        self._on_change()
        return changed

    def poke(self) -> None:
        """Another process changed SQL (its event arrived): catch up now, not at the next round.
        Pokes while a catch-up runs coalesce into one more round."""
        self._wake.set()

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="sql-follower")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception:  # the next round retries; SQL stays the truth meanwhile
                log.exception("following SQL changes failed")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
