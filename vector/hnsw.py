"""hnswlib adapter implementing memory.ports.VectorIndex (cosine).

Concurrency: hnswlib may run many searches at once but never a search during an add, delete
or resize, so every call holds a readers-writer lock (searches, reads and saves share it;
upserts, removes, clear and load are exclusive). The C calls run in worker threads so the event
loop keeps serving; hnswlib's own thread pool is pinned to 1 because on 2 cores its threads
would fight the loop and the embedder. The lock is released by the worker future's callback, so
a cancelled caller never lets a writer in while its C call is still running.

Exclusive work that arrives while earlier exclusive work waits for the lock goes with it, in
arrival order, as one job of the worker thread (`_exclusive`): 32 concurrent adds each took the
lock and a thread hop of their own, one after another, and waited ~37 ms (p50) for the index
alone, most of it hand-offs of the lock, the thread and the GIL.

Labels: every new memory id gets a fresh, monotonically increasing int label; labels are never
handed to another id, so a stale label can never resolve to the wrong memory. Removal marks the
label deleted and forgets it; the index was opened with `allow_replace_deleted`, so the next
new vector reuses the freed *slot* (memory does not grow with churn) under its new label.

A bulk load into an empty index (a rebuild at start, a replica's resync) does not wait for the
graph: its vectors are staged (labels, the int8 copy, and their float32 rows), and the graph is
built from them in the background while every search is answered by an exact scan of the
staged vectors (a 100k rebuild had held the start ~10 s on two cores for hnswlib's build alone;
an exact scan of all 100k takes ~30-60 ms, of a 2,000-memory scope ~1 ms, as always). Writes
meanwhile are staged too and handed to the builder in order. While it builds, searches never
touch the graph and the builder is the graph's only user, so it needs no lock but its turns to
take the next staged work; a save waits for it to finish.

Filtered search: hnswlib calls the filter for every node it walks past, and with a very selective
filter it walks most of the graph (100k vectors, 0.1% allowed: ~53 ms vs 0.8 ms for an exact scan
of the 100 allowed vectors). When `allow` is a set, the index knows the allowed ids, and scans
them exactly when they are few.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Hashable, Set
from typing import Any, Callable, Collection, Sequence, TypeVar

import hnswlib
import numpy as np

from memory.errors import InvalidInput
from memory.models import MemoryId, Vector
from memory.ports import Allow, ScopeIds
from vector import files
from vector.labels import LabelIds
from vector.mirror import Arrangement, Gathered, VectorMirror
from vector.staged import Step, StagedVectors
from memory.background import cancel
from memory.rwlock import RWLock

log = logging.getLogger(__name__)
R = TypeVar("R")
_OVERFETCH_MAX = 2000
# A batch this big (a rebuild or replay at start, a follower's resync) is inserted with every
# core: 100k MiniLM vectors took 25.7 s on one thread, 19.3 s on two (11.4 s with
# ef_construction 100), while a request's few vectors gain nothing from a thread hand-off.
_BULK = 1000
_THREADS = 2
_LABEL_SETS_KEPT = 64  # allowed sets whose labels are kept (the scope catalog keeps as many sets)
_CHANGES_LOGGED = 4096  # ids that came or went, newest last: a kept label set checks them, not every id
_WARM_SLICE = 2000
_INLINE_READS = 64  # similarities() of this few ids run on the caller's thread (exact: ~16 us an id, under the GIL)
_BULK_THREADS = max(1, min(2, os.cpu_count() or 1))
_BUILD_STEP = 2000  # staged writes the background build takes at a time (~0.2 s of hnswlib on two threads)


class HnswIndex:
    def __init__(
        self,
        path: Path | None,
        dimension: int = 384,
        M: int = 16,
        # 100: on 100k MiniLM vectors recall@10 0.980 against 0.981 at 200, built in 11.4 s
        # instead of 19.3 s, two threads (bench/hnsw_build.py)
        ef_construction: int = 100,
        ef_search: int = 64,
        initial_capacity: int = 1024,
        exact_max: int = 4096,
    ) -> None:
        """`path` is a directory owned by this index (None: memory only, save/load are no-ops).
        `exact_max`: a known allowed set at most this big is scanned exactly (from the int8
        mirror, vector/mirror.py) instead of searching the graph."""
        self._dir = Path(path) if path is not None else None
        self._dim = dimension
        self._M = M
        self._ef_construction = ef_construction
        self._ef_search = ef_search
        self._initial_capacity = max(1, initial_capacity)
        self._exact_max = exact_max
        self._lock = RWLock()
        # its own two threads: on two cores more would only pass the GIL around, and the
        # loop's default pool also runs unrelated work
        self._threads = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="vector")
        # saves share the read lock with searches; this keeps two saves apart, even when a
        # cancelled caller's save is still running in its thread
        self._save_lock = threading.Lock()
        self._warming: asyncio.Task[None] | None = None
        self._building: asyncio.Task[None] | None = None  # the graph's background build (_build_graph)
        self._copy_loaded = False  # whether the last load found the int8 copy saved with the index
        self._generation = 0  # counts resets (clear, load): prepared scans of an earlier one never hold
        # exclusive work waiting for the lock with the task that will run it (_exclusive)
        self._gathering: list[_Job] | None = None
        self._gatherer: asyncio.Task[None] | None = None
        self._reset()

    @property
    def dimension(self) -> int:
        return self._dim

    @property
    def scan_max(self) -> int:
        return self._exact_max

    # --- the port -------------------------------------------------------------------------

    async def upsert(self, items: Sequence[tuple[MemoryId, Vector]]) -> None:
        latest = dict(items)  # a repeated id in one call: the last vector wins
        if not latest:
            return
        ids = list(latest)
        matrix = self._matrix([latest[i] for i in ids])
        await self._exclusive(self._upsert_sync, ids, matrix)

    async def remove(self, ids: Sequence[MemoryId]) -> None:
        if ids:
            await self._exclusive(self._remove_sync, list(ids))

    async def nearest(
        self, query: Vector, k: int, allow: Allow = None, *, exact: bool = True, prepared: object = None
    ) -> list[tuple[MemoryId, float]]:
        """Best first. A predicate `allow` is called from a worker thread (it must only read);
        a set lets small allowed sets be scanned exactly. `exact=False` ranks a scanned set by
        the int8 mirror alone (a graph walk's scores are exact anyway). `prepared`: what
        `prepare(allow)` gave, used while none of the set's ids changed since."""
        q = self._matrix([query])
        if k <= 0:
            return []
        # ef is index-wide state: raising it for a large k must not race other searches
        widen = k > self._ef_search
        if isinstance(allow, Set) and len(allow) <= self._exact_max:
            # an exact scan of a small set: ~1 ms, and it holds the GIL throughout (NumPy
            # gathers, hnswlib's get_items), so a worker thread would only add a hand-off
            scan = prepared if isinstance(prepared, PreparedScan) else None
            return await self._inline(widen, self._nearest_sync, q, k, allow, widen, exact, scan)
        return await self._locked(widen, self._nearest_sync, q, k, allow, widen, exact)

    async def prepare(self, allow: Allow) -> PreparedScan | None:
        """An exact scan's work that needs no query, done while the query is embedded: the
        allowed set's labels (~0.5 ms for a scope's first search at 100k) and a contiguous copy
        of their mirrored rows, which `nearest(..., prepared=)` then scores without gathering
        them from across the whole mirror. None when `allow` would not be scanned."""
        if isinstance(allow, Set) and 0 < len(allow) <= self._exact_max:
            return await self._inline(False, self._prepare_sync, allow)
        return None

    async def similarities(
        self, query: Vector, ids: Sequence[MemoryId], *, exact: bool = True
    ) -> dict[MemoryId, float]:
        """Exact: from hnswlib's copies (~15 us a vector); otherwise from the int8 mirror (~1 us)."""
        q = self._matrix([query])[0]
        if len(ids) <= _INLINE_READS:
            return await self._inline(False, self._similarities_sync, q, list(ids), exact)
        return await self._locked(False, self._similarities_sync, q, list(ids), exact)

    async def ids(self) -> set[MemoryId]:
        await self._lock.acquire(False)
        try:
            return set(self._id_to_label)
        finally:
            self._lock.release(False)

    async def count(self) -> int:
        return len(self._id_to_label)  # one dict read on the loop thread: atomic enough

    async def clear(self) -> None:
        """Empty the index and delete its saved files, so a restart cannot resurrect them (a
        graph being built is left behind: its builder finds the reset and stops by itself, as
        nothing but it may write that graph, even in the middle of a step)."""
        await self._exclusive(self._clear_sync)

    async def save(self, checkpoint: int) -> None:
        if self._dir is None:
            return
        # searches go on; writers wait for the snapshot. A graph still being built is not
        # saved half done: the save waits for it (IndexKeeper waits in settled() first, before
        # it holds writers back)
        await self.settled()
        await self._locked(False, self._save_sync, checkpoint)

    async def settled(self) -> None:
        """Returns once a background build of the graph (after a bulk load) is done."""
        while self._building is not None and not self._building.done():
            await asyncio.wait([self._building])

    def building(self) -> tuple[int, int] | None:
        """(staged vectors the graph holds so far, vectors staged) while the graph is built in
        the background; None when searches use the graph."""
        staged = self._staged
        return None if staged is None else (min(staged.taken, staged.live), staged.live)

    async def load(self) -> int | None:
        await cancel(self._warming)  # a graph being built is left behind, as by clear()
        checkpoint = await self._exclusive(self._load_sync)
        self._warming = None if self._copy_loaded else asyncio.create_task(self._warm_mirror(),
                                                                           name="vector-mirror-warmup")
        return checkpoint

    async def arrange(self, order: Sequence[MemoryId]) -> None:
        """Lay the int8 copy out again in this order of ids (unknown ids are passed over), so
        that the ids of one scope, listed together, are scanned from one stretch of it
        (vector/mirror.py). A loaded snapshot's copy is completed first: rows copied after the
        arrangement would go wherever a slot is free."""
        if self._warming is not None:
            await asyncio.wait([self._warming])
        # laid out beside the copy, under no lock, while searches and writes go on (~0.2 s at
        # 100k, which held up every search and write when it ran exclusively); the rows written
        # meanwhile are noted, and copied again when it is swapped in
        mirror, begun = await self._exclusive(self._begin_arrangement)
        made = await asyncio.get_running_loop().run_in_executor(self._threads, self._lay_out, mirror, begun, order)
        await self._exclusive(self._arrange_sync, made, order)

    async def close(self) -> None:
        await cancel(self._building)
        await cancel(self._warming)
        self._threads.shutdown(wait=False)

    async def _warm_mirror(self) -> None:
        """Copy a loaded snapshot's vectors into the mirror in the background when it was saved
        without them (~1.9-2.9 s at 100k),
        in slices that each hold the index for ~40 ms: otherwise each scope's first scan reads its
        rows one by one from hnswlib (~40 ms for 2,000) and sets the search p95 after a restart."""
        labels = list(self._label_to_id)
        mirror = self._mirror
        for start in range(0, len(labels), _WARM_SLICE):
            if self._mirror is not mirror:  # cleared or reloaded meanwhile
                return
            await self._exclusive(self._warm_slice, mirror, labels[start : start + _WARM_SLICE])

    async def _build_graph(self) -> None:
        """Add the staged vectors to the graph, a step at a time, in the order they were written
        (removes too); the last step, under the exclusive lock, finds nothing left and hands
        searches over to the graph."""
        started, generation = time.perf_counter(), self._generation
        loop = asyncio.get_running_loop()
        try:
            while (step := await self._exclusive(self._take_step, generation)) is not None:
                await loop.run_in_executor(self._threads, _apply_step, *step)
        except Exception:  # searches stay exact scans, and nothing half built is saved
            log.exception("building the vector index's graph failed: searches go on scanning every vector "
                          "exactly, and the index is not saved (the next start rebuilds it from SQL)")
            return
        if generation == self._generation:
            log.info("vector index graph built in the background: %d vectors in %.1f s",
                     len(self._id_to_label), time.perf_counter() - started)

    def _take_step(self, generation: int) -> tuple[hnswlib.Index, Step] | None:
        """The next staged writes for the graph, with the vectors they add as they are now
        (under the exclusive lock); None, and the graph in use, once there are none left."""
        if generation != self._generation or self._staged is None:
            return None  # cleared or loaded meanwhile: this build is over
        if not self._staged.pending:
            self._staged = None  # every staged write is in the graph: searches walk it from now on
            self._free_slots = self._index.get_current_count() - len(self._id_to_label)
            return None
        return self._index, self._staged.take(_BUILD_STEP)

    def _begin_arrangement(self) -> tuple[VectorMirror, Arrangement]:
        return self._mirror, self._mirror.arranging()

    def _lay_out(self, mirror: VectorMirror, begun: Arrangement, order: Sequence[MemoryId]) -> Arrangement:
        # reads the id table, as the copy, unlocked: an id written meanwhile has its row noted
        return mirror.lay_out(begun, self._labels_of_ids(order))

    def _arrange_sync(self, made: Arrangement, order: Sequence[MemoryId]) -> None:
        if not self._mirror.adopt(made):  # cleared or loaded meanwhile, or too much written
            self._mirror.arrange(self._labels_of_ids(order))
        with self._labels_lock:  # their labels are listed in the old layout's order
            self._labels_for.clear()

    def _warm_slice(self, mirror: VectorMirror, labels: list[int]) -> None:
        if self._mirror is mirror:
            live = [label for label in labels if label in self._label_to_id]
            if live:
                mirror.copy(live, self._stored)

    # --- locking and threads --------------------------------------------------------------

    async def _inline(self, exclusive: bool, fn: Callable[..., R], *args: Any) -> R:
        """`fn` on the loop's thread, under the lock: for short work that holds the GIL anyway."""
        await self._lock.acquire(exclusive)
        try:
            return fn(*args)
        finally:
            self._lock.release(exclusive)

    async def _locked(self, exclusive: bool, fn: Callable[..., R], *args: Any) -> R:
        await self._lock.acquire(exclusive)
        try:
            fut = asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)
        except BaseException:
            self._lock.release(exclusive)
            raise

        def done(f: asyncio.Future[R]) -> None:
            self._lock.release(exclusive)
            _retrieved(f)

        fut.add_done_callback(done)
        return await asyncio.shield(fut)

    async def _exclusive(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn` in a worker thread under the exclusive lock, together with the exclusive work
        that joined it while it waited for the lock (each in arrival order, each with its own
        outcome). A cancelled caller leaves its work queued: it runs, as if it had been awaited."""
        job: _Job = _Job(fn, args, asyncio.get_running_loop().create_future())
        job.future.add_done_callback(_retrieved)  # a cancelled caller's failed write logs no stray error
        if self._gathering is not None:
            self._gathering.append(job)
        else:
            self._gathering = [job]
            self._gatherer = asyncio.create_task(self._run_gathered(), name="vector-index-writes")
        return await asyncio.shield(job.future)  # type: ignore[no-any-return]

    async def _run_gathered(self) -> None:
        try:
            await self._lock.acquire(True)
        except BaseException:
            jobs, self._gathering = self._gathering or [], None
            for job in jobs:
                job.future.cancel()
            raise
        jobs, self._gathering = self._gathering or [], None  # work from now on gathers behind this
        try:
            fut = asyncio.get_running_loop().run_in_executor(self._threads, _run_jobs, jobs)
        except RuntimeError as exc:  # the index was closed meanwhile: its callers hear it
            self._lock.release(True)
            for job in jobs:
                job.future.set_exception(exc)
            return

        def done(f: asyncio.Future[list[tuple[Any, BaseException | None]]]) -> None:
            self._lock.release(True)
            failed = asyncio.CancelledError() if f.cancelled() else f.exception()
            if failed is not None:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(failed)
                return
            for job, (result, error) in zip(jobs, f.result()):
                if job.future.done():
                    continue
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(result)
            if self._build_due:  # a write began a staged load (even one whose caller went away): its builder
                self._build_due = False
                self._building = asyncio.create_task(self._build_graph(), name="vector-graph-build")

        fut.add_done_callback(done)

    # --- worker-thread bodies (run under the lock) ----------------------------------------

    def _reset(self) -> None:
        self._generation += 1
        self._index = self._new_index(self._initial_capacity)
        self._id_to_label: dict[MemoryId, int] = {}
        self._label_to_id = LabelIds()
        self._next_label = 0
        self._free_slots = 0  # deleted slots that the next adds will reuse
        self._mirror = VectorMirror(self._dim, self._initial_capacity)
        # ids that came or went: `_changes` counts them, `_changed` holds the latest, and the
        # labels kept for an allowed set stay good while none of the ids changed since is in it
        # (another tenant's writes do not make this scope's next search list its labels again)
        self._changes = 0
        self._changed: deque[MemoryId] = deque(maxlen=_CHANGES_LOGGED)
        # allowed set -> (the set, _changes then, its labels), for the last few sets searched
        # labels of the allowed sets of recent searches, by scope (ScopeIds) or by the set's id()
        self._labels_for: dict[Hashable, tuple[Set[MemoryId], int, np.ndarray]] = {}
        # ids whose vectors were replaced in place (their labels stand): `_rewrites` counts them
        self._rewrites = 0
        self._rewritten: deque[MemoryId] = deque(maxlen=_CHANGES_LOGGED)
        self._labels_lock = threading.Lock()
        # while the graph is built in the background: every live label's unit vector, and the
        # writes the builder has yet to make, in order
        self._staged: StagedVectors | None = None
        self._build_due = False  # staging began: its builder starts as the write ends (once: not after a failure)

    def _new_index(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="cosine", dim=self._dim)
        index.init_index(
            max_elements=capacity, M=self._M, ef_construction=self._ef_construction, allow_replace_deleted=True
        )
        self._tune(index)
        return index

    def _tune(self, index: hnswlib.Index) -> None:
        index.set_num_threads(1)
        index.set_ef(self._ef_search)

    def _upsert_sync(self, ids: list[MemoryId], matrix: np.ndarray) -> None:
        if self._staged is None and len(ids) >= _BULK and not self._id_to_label and self._index.get_current_count() == 0:
            self._staged = StagedVectors()  # a bulk load into an empty index: the graph is built in the background
            self._build_due = True
        if self._staged is not None:
            self._stage_sync(ids, matrix)
            return
        known = [i for i, mid in enumerate(ids) if mid in self._id_to_label]
        fresh = [i for i, mid in enumerate(ids) if mid not in self._id_to_label]
        threads = _BULK_THREADS if len(ids) >= _BULK else 1
        if known:  # same label: hnswlib updates the point and its links in place
            labels = [self._id_to_label[ids[i]] for i in known]
            self._index.add_items(matrix[known], labels, num_threads=threads)
            self._mirror.put(labels, matrix[known])
            self._rewrites += len(known)
            self._rewritten.extend(ids[i] for i in known)
        if not fresh:
            return
        labels = list(range(self._next_label, self._next_label + len(fresh)))
        self._next_label += len(fresh)
        self._grow_for(len(fresh))
        # replace_deleted only for new labels: with an existing label it would duplicate it
        self._index.add_items(matrix[fresh], labels, num_threads=threads, replace_deleted=True)
        self._mirror.put(labels, matrix[fresh])
        self._free_slots -= min(self._free_slots, len(fresh))
        for i, label in zip(fresh, labels):
            self._adopt(ids[i], label)

    def _stage_sync(self, ids: list[MemoryId], matrix: np.ndarray) -> None:
        """A write while the graph is built in the background: labels, the int8 copy and the
        staged rows now; the graph when the builder reaches it."""
        assert self._staged is not None
        labels = []
        for mid in ids:
            label = self._id_to_label.get(mid)
            if label is None:
                label = self._next_label
                self._next_label += 1
                self._adopt(mid, label)
            else:
                self._rewrites += 1
                self._rewritten.append(mid)
            labels.append(label)
        self._mirror.put(labels, matrix)
        # unit rows, as hnswlib's cosine space keeps them
        self._staged.put(labels, matrix / np.linalg.norm(matrix, axis=1, keepdims=True))

    def _adopt(self, mid: MemoryId, label: int) -> None:
        """A new id's label, in both id tables."""
        mid = sys.intern(mid)  # one string object shared with the core's other id tables
        self._id_to_label[mid] = label
        self._label_to_id[label] = mid
        self._changed_id(mid)

    def _grow_for(self, adding: int) -> None:
        needed = self._index.get_current_count() + max(0, adding - self._free_slots)
        capacity = self._index.get_max_elements()
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2  # doubling keeps the number of (copying) resizes logarithmic
        self._index.resize_index(capacity)

    def _remove_sync(self, ids: list[MemoryId]) -> None:
        removed = []
        for mid in ids:
            label = self._id_to_label.pop(mid, None)
            if label is None:
                continue
            del self._label_to_id[label]
            self._changed_id(mid)
            self._mirror.forget(label)
            removed.append(label)
            if self._staged is None:
                self._index.mark_deleted(label)
                self._free_slots += 1
        if self._staged is not None and removed:  # the builder removes them from the graph in its turn
            self._staged.drop(removed)

    def _nearest_sync(
        self, q: np.ndarray, k: int, allow: Allow, widen: bool, exact: bool = True, prepared: PreparedScan | None = None
    ) -> list[tuple[MemoryId, float]]:
        live = len(self._id_to_label)
        if live == 0:
            return []
        k = min(k, live)
        to_id = self._label_to_id
        known = allow if isinstance(allow, Set) else None
        allowed = known.__contains__ if known is not None else allow
        staged = self._staged is not None  # the graph is being built: every search scans exactly
        if known is not None:
            # cheapest first (measured at 10k-100k x 384): a set up to exact_max scanned exactly
            # from the mirror (~0.3 ms per 1,000); a larger selective set by over-fetching
            # unfiltered (~1-3 ms); else a filtered graph walk (15-50 ms at 0.1-1% allowed)
            if len(known) <= self._exact_max or staged:
                if prepared is not None and self._still_holds(prepared, known):
                    return self._scan_sync(q[0], k, prepared.labels, exact, prepared.rows)
                return self._scan_sync(q[0], k, self._labels_of(known), exact)
            if len(known) < 0.3 * live:
                found = self._overfetch_sync(q, k, known, live)
                if found is not None:
                    return found
        if staged:
            labels = [label for label, mid in to_id.items() if allowed is None or allowed(mid)]
            return self._scan_sync(q[0], k, np.asarray(labels, dtype=np.int64), exact)
        # the filter runs inside the graph walk, so disallowed ids never use up the k slots
        filt = None if allowed is None else (lambda label: (m := to_id.get(label)) is not None and allowed(m))
        if widen:
            self._index.set_ef(max(self._ef_search, k))
        try:
            labels, distances = self._index.knn_query(q, k=k, num_threads=1, filter=filt)
        except RuntimeError:
            # fewer than k allowed (or reachable) points: answer exactly from the allowed ones
            labels = [label for label, mid in to_id.items() if allowed is None or allowed(mid)]
            return self._scan_sync(q[0], k, np.asarray(labels, dtype=np.int64), exact)
        finally:
            if widen:
                self._index.set_ef(self._ef_search)
        pairs = zip(labels[0].tolist(), distances[0].tolist())
        return [(to_id[label], 1.0 - dist) for label, dist in pairs if label in to_id]

    def _overfetch_sync(
        self, q: np.ndarray, k: int, known: Collection[MemoryId], live: int
    ) -> list[tuple[MemoryId, float]] | None:
        """A selective filter makes hnswlib call back into Python for most nodes it visits
        (100k vectors, 2% allowed: ~8 ms). Fetching k/selectivity (x2) nearest unfiltered and
        filtering afterwards costs ~1-3 ms; None when that many would be too costly or too few
        of them pass (the caller then walks the graph with the filter)."""
        wanted = min(live, int(2 * k * live / max(len(known), 1)) + k)
        if wanted > _OVERFETCH_MAX:
            return None
        try:  # hnswlib searches with ef = max(ef, k): no set_ef, which would race other readers
            labels, distances = self._index.knn_query(q, k=wanted, num_threads=1)
        except RuntimeError:
            return None
        to_id = self._label_to_id
        hits = []
        for label, dist in zip(labels[0].tolist(), distances[0].tolist()):
            mid = to_id.get(label)
            if mid is not None and mid in known:
                hits.append((mid, 1.0 - dist))
                if len(hits) == k:
                    return hits
        return None

    def _prepare_sync(self, known: Set[MemoryId]) -> PreparedScan | None:
        labels = self._labels_of(known)
        rows = self._mirror.gather(labels)
        if rows is None:  # a row not mirrored yet: the scan reads it from hnswlib itself
            return None
        return PreparedScan(known, self._generation, self._changes, self._rewrites, labels, rows)

    def _still_holds(self, prepared: PreparedScan, known: Set[MemoryId]) -> bool:
        """Whether `prepared` was made for `known` and none of its ids came, went or had its
        vector replaced since (after a clear or load the counts start again: never held)."""
        return (prepared.known is known and prepared.generation == self._generation
                and self._unchanged_in(known, prepared.changes)
                and _none_logged(known, self._rewritten, self._rewrites - prepared.rewrites))

    def _labels_of(self, known: Set[MemoryId]) -> np.ndarray:
        """The labels of an allowed set's ids. The scope catalog hands the same (frozen) set to
        every search of a scope until something changes, so the labels of the last few sets are
        kept (the entry holds its set: the id() key cannot be reused while it is kept)."""
        key = _key_of(known)
        kept = self._labels_for.get(key)
        if kept is not None and kept[0] is known and self._unchanged_in(known, kept[1]):
            if kept[1] != self._changes:  # checked up to now: the next search checks from here
                with self._labels_lock:
                    self._labels_for[key] = (known, self._changes, kept[2])
            return kept[2]
        if (kept is not None and isinstance(known, ScopeIds) and not kept[0] - known
                and self._unchanged_in(kept[0], kept[1])):
            # the scope's previous set, grown by adds (a user's add, then a search): its ids'
            # labels still stand, and only the added ids are looked up
            labels = np.concatenate([kept[2], self._labels_of_ids(known - kept[0])])
        else:  # in the order their rows lie in the mirror: the scan then reads it front to back
            labels = self._mirror.in_slot_order(self._labels_of_ids(known))
        if isinstance(known, frozenset):
            with self._labels_lock:  # searches run in several threads at once
                if key not in self._labels_for and len(self._labels_for) >= _LABEL_SETS_KEPT:
                    self._labels_for.pop(next(iter(self._labels_for)))
                self._labels_for[key] = (known, self._changes, labels)
        return labels

    def _labels_of_ids(self, ids: Collection[MemoryId]) -> np.ndarray:
        # one lookup per id, looped in C (a generator with two lookups took ~1.5 ms for 2,000 ids)
        found = list(map(self._id_to_label.get, ids))
        if None in found:
            found = [label for label in found if label is not None]
        return np.array(found, dtype=np.int64)

    def _changed_id(self, mid: MemoryId) -> None:
        self._changes += 1
        self._changed.append(mid)

    def _unchanged_in(self, known: Set[MemoryId], since: int) -> bool:
        """Whether no id of `known` came or went after the `since`-th change (False when the log
        no longer reaches back that far)."""
        return _none_logged(known, self._changed, self._changes - since)

    def _scan_sync(
        self, q: np.ndarray, k: int, candidates: np.ndarray, exact: bool, rows: Gathered | None = None
    ) -> list[tuple[MemoryId, float]]:
        """The k best of `candidates` by the mirror's scores (from `rows`, their rows gathered
        beforehand, when given); `exact`: re-scored from hnswlib's own vectors, with a margin
        past k so that near-ties misordered by int8 rounding are settled by exact scores (that
        re-score is ~0.6 ms of a ~1 ms scan at k=30)."""
        if not len(candidates):
            return []
        q = _unit(q)
        sims = rows.scores(q) if rows is not None else self._mirror.scores(candidates, q, self._stored)
        head = min(k + 8 if exact else k, len(sims))
        best = np.argpartition(-sims, head - 1)[:head] if head < len(sims) else np.arange(len(sims))
        labels = candidates[best]
        scores = self._stored(labels.tolist()) @ q if exact else sims[best]
        order = np.lexsort((labels, -scores))[:k]  # equal scores (duplicate texts): oldest first
        return [(self._label_to_id[int(labels[i])], float(scores[i])) for i in order]

    def _stored(self, labels: list[int]) -> np.ndarray:
        """hnswlib's own (normalised) copies of these vectors: exact, but ~19 us each (the
        staged rows while the graph is built: searches leave the graph to the builder then)."""
        if self._staged is not None:
            return self._staged.rows(labels)
        return np.asarray(self._index.get_items(labels), dtype=np.float32)

    def _similarities_sync(self, q: np.ndarray, ids: list[MemoryId], exact: bool) -> dict[MemoryId, float]:
        known = [mid for mid in dict.fromkeys(ids) if mid in self._id_to_label]
        if not known:
            return {}
        q = _unit(q)
        labels = [self._id_to_label[m] for m in known]
        sims = self._stored(labels) @ q if exact else self._mirror.scores(labels, q, self._stored)
        return {mid: float(sims[i]) for i, mid in enumerate(known)}

    def _clear_sync(self) -> None:
        self._reset()
        if self._dir is not None and self._dir.is_dir():
            files.remove_all(self._dir)

    def _save_sync(self, checkpoint: int) -> None:
        with self._save_lock:
            if self._staged is not None:  # its graph's build failed (see _build_graph): nothing to save
                log.warning("vector index not saved: its graph is not built")
                return
            self._save_generation(checkpoint)

    def _save_generation(self, checkpoint: int) -> None:
        assert self._dir is not None
        self._dir.mkdir(parents=True, exist_ok=True)
        gen = uuid.uuid4().hex[:16]
        index_path = self._dir / f"index-{gen}.bin"
        ids_path = self._dir / f"ids-{gen}.json"
        self._index.save_index(str(index_path))
        files.fsync_file(index_path)
        # in the order their int8 rows lie: the copy is then written from the mirror's own runs
        # of rows (no gathered copy of it), and a start from this generation lays them out alike
        labels = self._mirror.in_slot_order(np.fromiter(self._label_to_id, dtype=np.int64, count=len(self._label_to_id)))
        files.write_ids(ids_path, labels, self._label_to_id)
        # the int8 copy, so that a start from this generation need not make it again from
        # hnswlib (~2.9 s of CPU at 100k); not while a loaded copy is still being completed
        copied = self._mirror.rows_of(labels)
        mirror_path: Path | None = None
        if copied is not None:
            mirror_path = self._dir / f"mirror-{gen}.bin"
            files.write_mirror(mirror_path, *copied)
        manifest = files.Manifest(
            checkpoint=checkpoint,
            dimension=self._dim,
            next_label=self._next_label,
            index_file=index_path.name,
            index_bytes=index_path.stat().st_size,
            index_sha256=files.sha256_of(index_path),
            ids_file=ids_path.name,
            ids_bytes=ids_path.stat().st_size,
            ids_sha256=files.sha256_of(ids_path),
            mirror_file=mirror_path.name if mirror_path is not None else None,
            mirror_bytes=mirror_path.stat().st_size if mirror_path is not None else 0,
            mirror_sha256=files.sha256_of(mirror_path) if mirror_path is not None else "",
        )
        files.fsync_dir(self._dir)  # the data files' names are durable before the manifest names them
        files.commit_manifest(self._dir, manifest)
        kept = {index_path.name, ids_path.name} | ({mirror_path.name} if mirror_path is not None else set())
        files.remove_stale(self._dir, keep=kept)

    def _load_sync(self) -> int | None:
        self._reset()
        self._copy_loaded = False
        if self._dir is None:
            return None
        try:
            manifest = files.read_manifest(self._dir, self._dim)
            mapping = files.read_ids(self._dir / manifest.ids_file)
            index = hnswlib.Index(space="cosine", dim=self._dim)
            index.load_index(str(self._dir / manifest.index_file), allow_replace_deleted=True)
            present = set(index.get_ids_list())
            if index.dim != self._dim or not present.issuperset(mapping) or index.get_current_count() < len(mapping):
                raise files.Unusable("index content does not match its id file")
        except (files.Unusable, RuntimeError, OSError, ValueError, MemoryError) as exc:
            log.warning("vector index at %s not loaded, starting empty: %s", self._dir, exc)
            return None
        if index.get_max_elements() < self._initial_capacity:
            index.resize_index(self._initial_capacity)
        self._tune(index)
        self._index = index
        self._label_to_id = LabelIds()
        for label, mid in mapping.items():
            self._label_to_id[label] = sys.intern(mid)
        self._id_to_label = {mid: label for label, mid in self._label_to_id.items()}
        self._changes += 1
        self._next_label = max(manifest.next_label, max(mapping, default=-1) + 1)
        self._free_slots = index.get_current_count() - len(mapping)
        # room for a quarter more, so the next adds do not copy it at once
        self._mirror = VectorMirror(self._dim, len(mapping) + len(mapping) // 4 + 64)
        try:
            rows, scale = files.read_mirror(self._dir, manifest, len(mapping))
        except files.Unusable as exc:  # made again from hnswlib by _warm_mirror
            log.info("vector index at %s: the int8 copy is made again (%s)", self._dir, exc)
        else:
            self._mirror.put_rows(list(mapping), rows, scale)
            self._copy_loaded = True
        return manifest.checkpoint

    # --- helpers --------------------------------------------------------------------------

    def _matrix(self, vectors: Sequence[Vector]) -> np.ndarray:
        one = vectors[0] if len(vectors) == 1 else None
        if isinstance(one, np.ndarray) and one.dtype == np.float32 and one.shape == (self._dim,):
            matrix = np.ascontiguousarray(one.reshape(1, -1))  # a query: a view, not a stacked copy
        else:
            try:
                matrix = np.ascontiguousarray(np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors]))
            except ValueError as exc:
                raise InvalidInput(f"vectors must all have dimension {self._dim}") from exc
        if matrix.shape[1] != self._dim:
            raise InvalidInput(f"vector dimension {matrix.shape[1]} != index dimension {self._dim}")
        if not np.isfinite(matrix).all() or not (np.abs(matrix).sum(axis=1) > 0).all():
            raise InvalidInput("vectors must be finite and non-zero")
        return matrix


@dataclass(frozen=True, slots=True)
class PreparedScan:
    """A scan of `known` prepared before its query came: its labels and their rows, as they were
    after the index's `changes`-th change and `rewrites`-th rewrite since its `generation`-th
    reset."""

    known: Set[MemoryId]
    generation: int
    changes: int
    rewrites: int
    labels: np.ndarray
    rows: Gathered


def _apply_step(graph: hnswlib.Index, step: Step) -> None:
    """The builder's writes to the graph, in order (no lock: nothing else uses the graph meanwhile)."""
    for labels, vectors, new in step:
        if vectors is None:
            for label in labels.tolist():
                try:
                    graph.mark_deleted(label)
                except RuntimeError:  # staged and removed before the builder added it
                    pass
            continue
        needed = graph.get_current_count() + len(labels)
        if new and needed > graph.get_max_elements():
            graph.resize_index(max(needed, 2 * graph.get_max_elements()))
        graph.add_items(vectors, labels, num_threads=_BULK_THREADS, replace_deleted=new)


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a future's error retrieved: a cancelled caller must not leave a stray error logged."""
    if not future.cancelled():
        future.exception()


def _run_jobs(jobs: list[_Job]) -> list[tuple[Any, BaseException | None]]:
    """Each job in order, each with its own outcome (one failing leaves the rest to run)."""
    outcomes: list[tuple[Any, BaseException | None]] = []
    for job in jobs:
        try:
            outcomes.append((job.fn(*job.args), None))
        except Exception as exc:  # noqa: BLE001  handed to that job's caller
            outcomes.append((None, exc))
    return outcomes


def _none_logged(known: Set[MemoryId], log: deque[MemoryId], count: int) -> bool:
    """Whether none of the last `count` ids logged is in `known` (False when the log no longer
    reaches back that far)."""
    if count == 0:
        return True
    if not 0 < count <= len(log):
        return False
    return not any(mid in known for mid in itertools.islice(reversed(log), count))


def _key_of(known: Set[MemoryId]) -> Hashable:
    """A scope's sets by the scope (the catalog hands out a new one after each change in it),
    other sets by identity (the caller keeps the set while it is used)."""
    return known.scope if isinstance(known, ScopeIds) else id(known)


def _unit(q: np.ndarray) -> np.ndarray:
    return q / max(float(np.linalg.norm(q)), 1e-12)
