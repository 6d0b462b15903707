"""Keeps the derived vector index in step with SQL, the source of truth.

On start it loads the saved index and reconciles it against SQL: ids only in the index are
removed, rows written after the checkpoint are replayed, and an unusable index is rebuilt, as is
one that lacks more than an eighth as many of SQL's memories as it holds.
While running, writers hold the gate shared; snapshots hold it exclusively, so a snapshot's
checkpoint never claims a change the index has not applied.

Given the catalog's order of ids (one owner's together), it also has the index lay out what it
scans in that order (VectorIndex.arrange) once started, and again whenever the index has grown
by a quarter since: adds interleave owners, and a scope's scan at 100k memories read its rows
from across the whole copy in ~0.58 ms of the loop's time, against ~0.2 ms from one stretch.
Given a `warm` step (the largest scopes' scans prepared: Searcher.prepare_scans), it runs it in
its first round, once the index is laid out, and after each later arrangement, which forgets what
the index kept for its scans."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Sequence

from memory.background import cancel
from memory.rwlock import RWLock
from memory.models import MemoryId
from memory.ports import MemoryRepository, VectorIndex

log = logging.getLogger(__name__)

_CHUNK = 2000
# below this many vectors the index's scan copy (~4 MB at 10k) stays in the CPU's caches,
# wherever its rows lie: arranging it would buy nothing
ARRANGE_MIN = 10_000
# a saved index lacking at least this many of SQL's memories, and more than REPLAY_SHARE of what
# it holds, is rebuilt rather than brought up to date (IndexKeeper._outgrown)
REBUILD_MIN = 1_000
# where a replay before ready starts to take longer than a rebuild would (measured: _outgrown)
REPLAY_SHARE = 0.125
_REARRANGE_GROWTH = 1.25


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    rebuilt: bool
    removed: int
    replayed: int
    restored: int
    total: int
    seconds: float


async def drop_extra(index: VectorIndex, sql_ids: set[MemoryId]) -> int:
    """Remove from the index every id SQL no longer has; returns how many."""
    extra = sorted((await index.ids()) - sql_ids)
    if extra:
        await index.remove(extra)
    return len(extra)


async def restore_missing(index: VectorIndex, repo: MemoryRepository, sql_ids: set[MemoryId]) -> int:
    """Add to the index, from SQL, every id it lacks; returns how many."""
    missing = sorted(sql_ids - await index.ids())
    if missing:
        await index.upsert(list((await repo.embeddings(missing)).items()))
    return len(missing)


class IndexKeeper:
    def __init__(self, index: VectorIndex, repo: MemoryRepository, save_interval_s: float = 30.0,
                 order: Callable[[], Sequence[MemoryId]] | None = None,
                 warm: Callable[[], Awaitable[object]] | None = None) -> None:
        self._index = index
        self._repo = repo
        self._interval = save_interval_s
        self._order = order
        self._warm = warm
        self._arranged_at = 0  # the index's size when it was last arranged (0: never)
        self.gate = RWLock()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        # rounds of the loop's work (snapshot if dirty, arrange if due) begun and ended, and a
        # request for the next round to begin without waiting out the interval
        self._begun = self._ended = 0
        self._first_round = 1  # the number of the round a start begins with
        self._round_ended = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def settling(self) -> bool:
        """Started, and its first round (the start's snapshot, arrangement and warm step, after
        any graph the index builds in the background) not over yet."""
        return self._task is not None and not self._task.done() and self._ended < self._first_round

    def mark_dirty(self) -> None:
        self._dirty = True

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        async with self.gate.shared():
            yield
            self._dirty = True

    async def reconcile(self, sql_ids: set[MemoryId]) -> ReconcileReport:
        """Load the saved index and bring it in line with SQL, whose memory ids are `sql_ids`."""
        started = time.perf_counter()
        loaded = await self._index.load()
        rebuilt = loaded is None or await self._outgrown(sql_ids)
        if rebuilt:
            await self._index.clear()
            loaded = None
        checkpoint = loaded or 0
        removed = await drop_extra(self._index, sql_ids)
        replayed = 0
        # page by id, so a 100k rebuild never holds every vector at once; the next page is read
        # while the index inserts this one
        reading = asyncio.create_task(self._repo.embeddings_since(checkpoint, after=None, limit=_CHUNK))
        try:
            while page := await reading:
                reading = asyncio.create_task(self._repo.embeddings_since(checkpoint, after=page[-1][0], limit=_CHUNK))
                await self._index.upsert(page)
                replayed += len(page)
        finally:  # an error of the read ahead must not hide the one that got us here
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        # rows older than the checkpoint that the saved index lacks: an index saved by other
        # code, or a file restored from backup
        restored = await restore_missing(self._index, self._repo, sql_ids)
        report = ReconcileReport(
            rebuilt=rebuilt,
            removed=removed,
            replayed=replayed,
            restored=restored,
            total=await self._index.count(),
            seconds=time.perf_counter() - started,
        )
        log.info("vector index reconciled: %s", report)
        # a loaded snapshot that needed nothing is saved already; otherwise the next snapshot
        # (`start` takes one at once) saves the work, after the start rather than before it:
        # at 100k memories a save writes ~170 MB, and SQL stays the truth if we stop first
        self._dirty = rebuilt or bool(removed or replayed or restored)
        return report

    async def _outgrown(self, sql_ids: set[MemoryId]) -> bool:
        """Whether the loaded snapshot lacks more than REPLAY_SHARE of what it holds of SQL's
        memories (and at least REBUILD_MIN). A replay adds each row to the graph before the start
        is ready, ~3x a rebuild's cost a row, while a rebuild is ready once SQL is read and builds
        its graph in the background (both cores for ~10 s at 100k, every search an exact scan
        meanwhile). Interleaved starts on a 2-core machine: 25k rows onto a 100k snapshot were
        ready in 8.9-9.6 s replayed and 6.1-7.6 s rebuilt; 12k, 6.5-7.4 s replayed and 7.0-8.0 s
        rebuilt. So a start at any lag is at most about as slow as a rebuild's, where a snapshot
        lacking half of what it holds had taken ~2x that."""
        held = len(await self._index.ids() & sql_ids)
        lacking = len(sql_ids) - held
        if lacking < REBUILD_MIN or lacking <= held * REPLAY_SHARE:
            return False
        log.info("the saved vector index holds %d of %d memories: rebuilding it from SQL instead of replaying %d",
                 held, len(sql_ids), lacking)
        return True

    async def snapshot(self) -> int:
        # a graph still being built after a bulk load is waited for before writers are held back
        await self._index.settled()
        async with self.gate.exclusive():
            checkpoint = await self._repo.max_seq()
            await self._index.save(checkpoint)
            self._dirty = False
            return checkpoint

    async def arrange_if_due(self) -> bool:
        """Have the index lay its scan copy out in the catalog's order, if it has never been or
        has grown by a quarter since; whether it was."""
        count = await self._index.count()
        if self._order is None or count < max(ARRANGE_MIN, self._arranged_at * _REARRANGE_GROWTH):
            return False
        started = time.perf_counter()
        self._arranged_at = count
        await self._index.arrange(self._order())
        log.info("vector index arranged by owner: %d vectors in %.2f s", count, time.perf_counter() - started)
        return True

    async def settled(self) -> None:
        """Returns once the index has built what it builds in the background (after a rebuild)
        and a round of this keeper's loop begun after that has saved and arranged it (the round
        is asked for at once; a stopped keeper runs none)."""
        await self._index.settled()
        task, wanted = self._task, self._begun + 1
        self._wake.set()
        while task is not None and not task.done() and self._ended < wanted:
            ended = asyncio.ensure_future(self._round_ended.wait())
            try:
                await asyncio.wait([ended, task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()

    def start(self) -> None:
        self._first_round = self._begun + 1
        self._task = asyncio.create_task(self._run(), name="index-snapshots")

    async def _run(self) -> None:
        while True:
            self._begun += 1
            self._wake.clear()  # a request made from here on asks for the round after this one
            if self._dirty:
                try:
                    await self.snapshot()
                except Exception:  # keep snapshotting later; SQL stays the truth meanwhile
                    log.exception("vector index snapshot failed")
            try:
                arranged = await self.arrange_if_due()
            except Exception:  # only a layout: searches answer the same without it
                log.exception("arranging the vector index failed")
                arranged = False
            if self._warm is not None and (arranged or self._begun == self._first_round):
                try:
                    await self._warm()
                except Exception:  # only a head start: searches prepare what they need anyway
                    log.exception("preparing the largest scopes' searches failed")
            self._ended += 1
            self._round_ended.set()  # wakes those waiting for this round; the next waits anew
            self._round_ended = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._dirty:
            await self.snapshot()
