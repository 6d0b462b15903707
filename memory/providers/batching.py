"""Micro-batching of embedding calls onto one model thread.

Concurrent requests (many adds and searches at once) each embed one or a few texts. One forward
pass over 64 sentences costs far less than 64 passes of one, and two passes at once on 2 cores
only fight each other. So callers queue their texts; after `max_wait_ms` (or as soon as
`max_batch` texts are waiting) everything queued goes to a single worker thread as one call.
While that thread is busy new callers keep queueing and go together in the next call, so
batches grow with load without anyone waiting longer than the model itself makes them.

Fairness: callers say whose work they queue (`owner`, e.g. the scope's user). Each pass takes
texts round-robin across the owners waiting, an equal share of the room each, splitting large
requests across passes; so one tenant's 200-message add interleaves with others' single
searches instead of holding the model for its whole length.

All state is touched on the event loop thread only; the worker thread just runs `forward` and
stamps `_progress_at` after each chunk it finishes (one float store), which is what lets health
tell a saturated model that keeps finishing passes from one that hangs.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

import numpy as np

from memory.errors import ProviderError
from memory.ports import EmbedderState

log = logging.getLogger(__name__)

Forward = Callable[[list[str]], np.ndarray]
# a pass run elsewhere (another process): its rows, awaited on the loop
Submit = Callable[[list[str]], Awaitable[np.ndarray]]


@dataclass(slots=True)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    queued_at: float = field(default_factory=time.monotonic)
    taken: int = 0  # texts handed to passes so far
    answered: int = 0
    rows: dict[int, np.ndarray] = field(default_factory=dict)  # by the offset of the first text

    def answer(self, start: int, rows: np.ndarray) -> None:
        self.rows[start] = rows
        self.answered += len(rows)
        if self.answered == len(self.texts) and not self.future.done():
            parts = [self.rows[k] for k in sorted(self.rows)]
            self.future.set_result(parts[0] if len(parts) == 1 else np.concatenate(parts))


@dataclass(slots=True)
class _Part:
    request: _Request
    start: int
    end: int

    @property
    def texts(self) -> list[str]:
        return self.request.texts[self.start : self.end]


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
        on_idle: Callable[[], None] | None = None,
        idle_after_s: float = 1.0,
        submit: Submit | None = None,
        depth: int = 1,
    ) -> None:
        """`forward(texts)` must return one row per text, in order. It always runs in the same
        single worker thread, so it may keep thread-affine state (a lazily loaded model).
        A caller with more than `max_batch` texts is run in chunks of `max_batch`. `on_idle` runs
        on that thread too, once the model has had nothing to do for `idle_after_s`: housekeeping
        there (the entry point's heap release) stays out of the way of a loaded model, whose
        passes follow each other closer than that.

        `submit`, when given, runs the passes instead of `forward` on the thread: `submit(texts)`
        is awaited on the loop (a model in another process), with up to `depth` passes handed to
        it at once, so that it starts the next as soon as it ends one instead of waiting for the
        loop to notice. `forward` then serves `run` only."""
        if max_batch < 1 or max_wait_ms < 0 or depth < 1:
            raise ValueError("max_batch and depth must be >= 1 and max_wait_ms >= 0")
        self._forward = forward
        self._submit = submit
        self._depth = depth
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._owns_executor = executor is None
        # owner -> its requests in arrival order; dict order is the round-robin rotation
        self._pending: dict[str, deque[_Request]] = {}
        self._pending_texts = 0
        self._timer: asyncio.Handle | None = None
        self._due = False  # the oldest pending caller has waited long enough
        self._running = 0  # passes handed to the model and not finished
        self._closed = False
        self._jobs = 0  # calls submitted to the worker thread and not finished (passes and `run`s)
        self._progress_at = time.monotonic()  # last time the worker started or finished something
        self.stats = BatchStats()
        # called on the loop with (texts in the pass, seconds it took); the edge's metrics hook
        self.on_batch: Callable[[int, float], None] | None = None
        self._on_idle = on_idle
        self._idle_after = idle_after_s
        self._idle_timer: asyncio.TimerHandle | None = None

    async def embed(self, texts: Sequence[str], owner: str = "") -> np.ndarray:
        """Rows for `texts` (shape (len(texts), d)) from a forward pass shared with other callers;
        `owner` names whose work this is, for sharing the model fairly between owners."""
        if self._closed:
            raise ProviderError("embedder is closed")
        if not texts:
            raise ValueError("embed() needs at least one text")  # the embedder answers (0, d) itself
        loop = asyncio.get_running_loop()
        request = _Request(list(texts), loop.create_future())
        self._pending.setdefault(owner, deque()).append(request)
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
            waiting = [r.queued_at for q in self._pending.values() for r in q if not r.future.done()]
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
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for queue in self._pending.values():
            for request in queue:
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
        if self._running >= self._depth or not self._due:
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
        texts = [t for part in batch for t in part.texts]
        self._running += 1
        self.stats.forward_calls += 1
        self.stats.texts += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        self.stats.sizes.append(len(texts))
        started = time.perf_counter()
        self._started_job()
        future = (asyncio.ensure_future(self._submit(texts)) if self._submit is not None
                  else loop.run_in_executor(self._executor, self._run_chunks, texts))
        future.add_done_callback(lambda f: self._on_done(loop, batch, f, len(texts), started))

    def _take_batch(self) -> list[_Part]:
        """Texts for the next pass, up to `max_batch`: in rounds, each waiting owner in rotation
        takes an equal share of the room left; an owner served goes to the back of the rotation."""
        batch: list[_Part] = []
        room = self._max_batch
        while room and self._pending:
            share = max(1, room // len(self._pending))
            for owner in list(self._pending):
                queue = self._pending.pop(owner)
                room -= self._take_from(queue, min(share, room), batch)
                if queue:
                    self._pending[owner] = queue
                if not room:
                    break
        return batch

    def _take_from(self, queue: deque[_Request], want: int, batch: list[_Part]) -> int:
        took = 0
        while queue and took < want:
            request = queue[0]
            left = len(request.texts) - request.taken
            if request.future.done():  # caller cancelled, or an earlier part failed
                self._pending_texts -= left
                queue.popleft()
                continue
            n = min(left, want - took)
            batch.append(_Part(request, request.taken, request.taken + n))
            request.taken += n
            took += n
            self._pending_texts -= n
            if request.taken == len(request.texts):
                queue.popleft()
        return took

    def _on_done(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Part], f: asyncio.Future[np.ndarray],
        size: int, started: float,
    ) -> None:
        self._running -= 1
        self._finished_job()
        elapsed = time.perf_counter() - started
        self.stats.seconds += elapsed
        self.stats.last_seconds = elapsed
        if self.on_batch is not None:
            self.on_batch(size, elapsed)
        error = f.exception() if not f.cancelled() else ProviderError("embedding batch cancelled")
        if error is None and f.result().shape[0] != size:
            error = ProviderError(f"embedding model returned {f.result().shape[0]} rows for {size} texts")
        offset = 0
        for part in batch:
            n = len(part.texts)
            if not part.request.future.done():
                if error is not None:
                    part.request.future.set_exception(error)
                else:
                    part.request.answer(part.start, f.result()[offset : offset + n])
            offset += n
        if self._pending and not self._closed:
            self._due = True  # they queued while the model was busy: no reason to wait more
            self._dispatch(loop)
        elif self._running:
            pass  # the pass still running sets the idle timer when it ends
        elif self._on_idle is not None and not self._closed:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = loop.call_later(self._idle_after, self._on_quiet, loop)

    def _on_quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle_timer = None
        if self._running or self._pending or self._closed or self._on_idle is None:
            return  # the pass under way sets the timer again when it ends with nothing queued
        self._started_job()  # a hook that hangs shows in state() as a stalled model
        idle = loop.run_in_executor(self._executor, self._on_idle)
        idle.add_done_callback(self._idle_done)

    def _idle_done(self, f: asyncio.Future[None]) -> None:
        self._finished_job()
        if not f.cancelled() and (error := f.exception()) is not None:
            log.warning("embedder idle hook failed: %s: %s", type(error).__name__, error)

    # --- worker thread ---------------------------------------------------------------------

    def _run_chunks(self, texts: list[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self._max_batch):
            parts.append(self._forward(texts[i : i + self._max_batch]))
            self._progress_at = time.monotonic()
        return np.concatenate(parts) if len(parts) != 1 else parts[0]
