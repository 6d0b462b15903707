"""The single graph writer: batches graph work from concurrent adds and drains the outbox.

Every piece of work is already in the SQL outbox (written in the memory's transaction), so a
crash or a graph outage loses nothing: the drain loop applies what is left once the graph
answers again. One writer task means MERGEs never race each other (racing MERGEs on a new
node fail with ConstraintError or duplicate it)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Sequence

from memory.background import cancel
from memory.errors import StoreUnavailable
from memory.models import GraphWork, GraphWriteResult
from memory.ports import GraphStore, MemoryRepository

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    work: GraphWork
    future: asyncio.Future[GraphWriteResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GraphWriter:
    def __init__(
        self,
        graph: GraphStore,
        repo: MemoryRepository,
        *,
        max_batch: int = 256,
        drain_interval_s: float = 2.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._graph = graph
        self._repo = repo
        self._max_batch = max_batch
        self._drain_interval = drain_interval_s
        self._max_backoff = max_backoff_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._in_flight: set[str] = set()
        # work the graph refuses for good (not an outage): kept in the outbox for an operator
        # to inspect, skipped by the drain so it cannot block everything behind it
        self.poisoned: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._healthy = True
        self.applied = 0
        self.failures = 0

    @property
    def healthy(self) -> bool:
        return self._healthy

    def submit(self, works: Sequence[GraphWork]) -> list[asyncio.Future[GraphWriteResult]]:
        """Queue work that is already in the outbox; each future resolves when applied."""
        pending = [_Pending(w) for w in works]
        for p in pending:
            self._in_flight.add(p.work.id)
            self._queue.put_nowait(p)
        return [p.future for p in pending]

    def start(self, after: asyncio.Future[None] | None = None) -> None:
        """`after`: the graph is still starting (an embedded server's JVM); nothing is applied
        until it is done, so a backlog left from before drains at once then, instead of after
        failed tries and their back-off."""
        self._task = asyncio.create_task(self._run(after), name="graph-writer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        while not self._queue.empty():
            p = self._queue.get_nowait()
            if not p.future.done():
                p.future.set_exception(StoreUnavailable("graph", "writer stopped; work stays in the outbox"))

    async def _run(self, after: asyncio.Future[None] | None) -> None:
        if after is not None:
            await asyncio.wait({after})  # its failure is the start's to report, not the writer's
        backoff = self._drain_interval
        backlog = True  # the outbox may hold work left from before this start
        while True:
            if backlog and self._healthy:
                wait = 0.0  # take what is queued now and fill the batch from the outbox
            else:
                wait = backoff if not self._healthy else self._drain_interval
            batch = await self._next_batch(timeout=wait)
            if (backlog or not batch) and len(batch) < self._max_batch:
                # older work rides along with new work: under a steady stream of adds the queue
                # is never idle, and a backlog left by an outage must still drain
                older = await self._from_outbox()
                batch += older[: self._max_batch - len(batch)]
                backlog = bool(older)
            if not batch:
                continue
            ok = await self._apply(batch)
            backoff = self._drain_interval if ok else min(backoff * 2, self._max_backoff)
            if not ok:
                backlog = True
                await asyncio.sleep(backoff)

    async def _next_batch(self, timeout: float) -> list[_Pending]:
        if timeout <= 0:
            if self._queue.empty():
                return []
            first = self._queue.get_nowait()
        else:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: see DeliveryWorker._run
                    first = await self._queue.get()
            except TimeoutError:
                return []
        batch = [first]
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _from_outbox(self) -> list[_Pending]:
        try:
            works = await self._repo.pending_graph_work(self._max_batch + len(self.poisoned))
        except Exception:
            log.exception("reading the graph outbox failed")
            return []
        skip = self._in_flight | self.poisoned
        return [_Pending(w) for w in works if w.id not in skip][: self._max_batch]

    async def _apply(self, batch: list[_Pending]) -> bool:
        ids = [p.work.id for p in batch]
        self._in_flight.update(ids)
        try:
            results = await self._graph.apply([p.work for p in batch])
        except StoreUnavailable as exc:
            return await self._failed(batch, ids, exc)
        except Exception as exc:
            if len(batch) > 1:  # find the piece the graph refuses; apply the rest
                self._in_flight.difference_update(ids)
                outcomes = [await self._apply([p]) for p in batch]
                return all(outcomes)
            log.error("graph refused work %s for good, left in the outbox: %r", ids[0], exc)
            self.poisoned.add(ids[0])
            return await self._failed(batch, ids, exc, outage=False)
        return await self._succeeded(batch, ids, results)

    async def _failed(self, batch: list[_Pending], ids: list[str], exc: Exception, outage: bool = True) -> bool:
        if outage:
            self._healthy = False
            self.failures += 1
            log.warning("graph write of %d items failed, kept in outbox: %s", len(batch), exc)
        with contextlib.suppress(Exception):
            await self._repo.record_graph_failure(ids, str(exc)[:500])
        for p in batch:
            if not p.future.done():
                p.future.set_exception(StoreUnavailable("graph", str(exc)[:200]))
        self._in_flight.difference_update(ids)
        return not outage

    async def _succeeded(self, batch: list[_Pending], ids: list[str], results: dict[str, GraphWriteResult]) -> bool:
        self._healthy = True
        self.applied += len(batch)
        try:
            await self._repo.complete_graph_work(ids)
        except Exception:  # applying again later is harmless: graph writes are idempotent
            log.exception("could not clear %d applied outbox rows", len(ids))
        for p in batch:
            if not p.future.done():
                p.future.set_result(results.get(p.work.id, GraphWriteResult()))
        self._in_flight.difference_update(ids)
        return True
