"""Following SQL for changes made by other processes sharing the database (replicas behind a
load balancer on one PostgreSQL, or a CLI import): their writes reach this process's vector
index and owner catalog within `interval_s`, so every replica finds every memory.

A catch-up holds the write gate exclusively: a local write that is committed but not yet in
the index could otherwise be overtaken by an older row read here."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from memory.background import cancel
from memory.catalog import ScopeCatalog
from memory.gate import WriteGate
from memory.ports import MemoryRepository, VectorIndex

log = logging.getLogger(__name__)

_PAGE = 1000


class SqlFollower:
    def __init__(
        self, repo: MemoryRepository, index: VectorIndex, catalog: ScopeCatalog, gate: WriteGate,
        interval_s: float, on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._repo = repo
        self._index = index
        self._catalog = catalog
        self._gate = gate
        self._interval = interval_s
        self._on_change = on_change
        self._seen = 0
        self._task: asyncio.Task[None] | None = None
        self.applied = 0

    async def mark(self) -> None:
        """Everything up to SQL's current seq is already reflected here."""
        self._seen = await self._repo.max_seq()

    async def catch_up(self) -> int:
        """Apply what others changed since the last look; returns how many memories it touched."""
        async with self._gate.exclusive():
            current = await self._repo.max_seq()
            if current < self._seen:  # history was wiped (a reset elsewhere): resync wholesale
                return await self._resync(current)
            touched = 0
            while changes := await self._repo.changed_since(self._seen, _PAGE):
                ids = sorted({mid for _, mid in changes})
                await self._apply(ids)
                touched += len(ids)
                self._seen = changes[-1][0]
            if touched:
                self._on_change()
            self.applied += touched
            return touched

    async def _apply(self, ids: list[str]) -> None:
        records = await self._repo.get_many(ids)
        gone = [id for id in ids if id not in records]
        vectors = await self._repo.embeddings([id for id in ids if id in records])
        for id, rec in records.items():
            self._catalog.put(id, rec.scope, rec.valid)
        for id in gone:
            self._catalog.drop(id)
        if vectors:
            await self._index.upsert(list(vectors.items()))
        if gone:
            await self._index.remove(gone)

    async def _resync(self, current: int) -> int:
        rows = await self._repo.catalog()
        self._catalog.load(rows)
        live = {row.id for row in rows}
        extra = sorted((await self._index.ids()) - live)
        if extra:
            await self._index.remove(extra)
        missing = sorted(live - await self._index.ids())
        if missing:
            await self._index.upsert(list((await self._repo.embeddings(missing)).items()))
        self._seen = current
        self._on_change()
        return len(extra) + len(missing)

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="sql-follower")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.catch_up()
            except Exception:  # the next round retries; SQL stays the truth meanwhile
                log.exception("following SQL changes failed")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
