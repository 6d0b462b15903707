"""Micro-batching of embedding calls onto one model thread.

Concurrent requests (many adds and searches at once) each embed one or a few texts. One forward
pass over 64 sentences costs far less than 64 passes of one, and two passes at once on 2 cores
only fight each other. So callers queue their texts; after `max_wait_ms` (or as soon as
`max_batch` texts are waiting) everything queued goes to a single worker thread as one call.
While that thread is busy new callers keep queueing and go together in the next call, so
batches grow with load without anyone waiting longer than the model itself makes them.

All state is touched on the event loop thread only; the worker thread just runs `forward` and
stamps `_progress_at` after each chunk it finishes (one float store), which is what lets health
tell a saturated model that keeps finishing chunks from one that hangs.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from memory.errors import ProviderError
from memory.ports import EmbedderState

Forward = Callable[[list[str]], np.ndarray]


@dataclass(slots=True)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class BatchStats:
    forward_calls: int = 0
    texts: int = 0
    largest: int = 0
    # the most recent batch sizes only: a long-running server makes millions of passes
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1024))
    seconds: float = 0.0
    last_seconds: float | None = None


class MicroBatcher:
    def __init__(
        self,
        forward: Forward,
        *,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        name: str = "embed",
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        """`forward(texts)` must return one row per text, in order. It always runs in the same
        single worker thread, so it may keep thread-affine state (a lazily loaded model).
        A caller with more than `max_batch` texts is run in chunks of `max_batch`."""
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self._forward = forward
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._owns_executor = executor is None
        self._pending: list[_Request] = []
        self._pending_texts = 0
        self._timer: asyncio.Handle | None = None
        self._due = False  # the oldest pending caller has waited long enough
        self._busy = False
        self._closed = False
        self._jobs = 0  # calls submitted to the worker thread and not finished (passes and `run`s)
        self._progress_at = time.monotonic()  # last time the worker started or finished something
        self.stats = BatchStats()
        # called on the loop with (texts in the pass, seconds it took); the edge's metrics hook
        self.on_batch: Callable[[int, float], None] | None = None

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for `texts` (shape (len(texts), d)) from a forward pass shared with other callers."""
        if self._closed:
            raise ProviderError("embedder is closed")
        if not texts:
            raise ValueError("embed() needs at least one text")  # the embedder answers (0, d) itself
        loop = asyncio.get_running_loop()
        request = _Request(list(texts), loop.create_future())
        self._pending.append(request)
        self._pending_texts += len(request.texts)
        if self._pending_texts >= self._max_batch:
            self._due = True
            self._dispatch(loop)
        elif self._timer is None and not self._due:
            if self._max_wait == 0:  # still collect every caller already scheduled on this tick
                self._timer = loop.call_soon(self._on_timer, loop)
            else:
                self._timer = loop.call_later(self._max_wait, self._on_timer, loop)
        return await request.future

    async def run(self, fn: Callable[[], object]) -> object:
        """Run `fn` on the model thread (e.g. to load the model ahead of the first request)."""
        self._started_job()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self._finished_job()

    def state(self, loaded: bool) -> EmbedderState:
        """Queue depth and progress, read from state (never by queueing a probe)."""
        now = time.monotonic()
        if self._jobs:
            stalled = now - self._progress_at
        else:
            waiting = [r.queued_at for r in self._pending if not r.future.done()]
            stalled = now - min(waiting) if waiting else 0.0
        last = self.stats.sizes[-1] if self.stats.sizes else None
        last_ms = None if self.stats.last_seconds is None else round(self.stats.last_seconds * 1000, 2)
        return EmbedderState(
            loaded=loaded, alive=not self._closed, queued=self._pending_texts,
            stalled_s=round(max(stalled, 0.0), 3), last_batch=last, last_batch_ms=last_ms,
        )

    def _started_job(self) -> None:
        if not self._jobs:
            self._progress_at = time.monotonic()  # idle until now: nothing was owed
        self._jobs += 1

    def _finished_job(self) -> None:
        self._jobs -= 1
        self._progress_at = time.monotonic()

    async def aclose(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(ProviderError("embedder closed before the batch ran"))
        self._pending.clear()
        if self._owns_executor:
            # waits for a running forward pass in a thread, not on the loop
            await asyncio.to_thread(self._executor.shutdown, True)

    # --- scheduling (event loop thread) ----------------------------------------------------

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._due = True
        self._dispatch(loop)

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._busy or not self._due:
            return  # the running batch's completion dispatches again
        batch = self._take_batch()
        if not batch:
            self._due = False
            return
        if not self._pending:
            self._due = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        texts = [t for request in batch for t in request.texts]
        self._busy = True
        self.stats.forward_calls += 1
        self.stats.texts += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        self.stats.sizes.append(len(texts))
        started = time.perf_counter()
        self._started_job()
        future = loop.run_in_executor(self._executor, self._run_chunks, texts)
        future.add_done_callback(lambda f: self._on_done(loop, batch, f, len(texts), started))

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._pending:
            request = self._pending[0]
            if request.future.done():  # caller cancelled while queued
                self._pending.pop(0)
                self._pending_texts -= len(request.texts)
                continue
            if batch and size + len(request.texts) > self._max_batch:
                break
            self._pending.pop(0)
            self._pending_texts -= len(request.texts)
            batch.append(request)
            size += len(request.texts)
        return batch

    def _on_done(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Request], f: asyncio.Future[np.ndarray],
        size: int, started: float,
    ) -> None:
        self._busy = False
        self._finished_job()
        elapsed = time.perf_counter() - started
        self.stats.seconds += elapsed
        self.stats.last_seconds = elapsed
        if self.on_batch is not None:
            self.on_batch(size, elapsed)
        error = f.exception() if not f.cancelled() else ProviderError("embedding batch cancelled")
        offset = 0
        for request in batch:
            n = len(request.texts)
            if not request.future.done():
                if error is not None:
                    request.future.set_exception(error)
                else:
                    request.future.set_result(f.result()[offset : offset + n])
            offset += n
        if self._pending and not self._closed:
            self._due = True  # they queued while the model was busy: no reason to wait more
            self._dispatch(loop)

    # --- worker thread ---------------------------------------------------------------------

    def _run_chunks(self, texts: list[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self._max_batch):
            parts.append(self._forward(texts[i : i + self._max_batch]))
            self._progress_at = time.monotonic()  # a long multi-chunk call still shows progress
        rows = np.concatenate(parts) if len(parts) != 1 else parts[0]
        if rows.shape[0] != len(texts):
            raise ProviderError(f"embedding model returned {rows.shape[0]} rows for {len(texts)} texts")
        return rows
