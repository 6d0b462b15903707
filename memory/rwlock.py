"""A fair readers-writer (shared/exclusive) lock for one asyncio event loop.

The vector index uses it so that many searches run at once but none overlaps an add, resize
or delete; the index keeper uses it so that many writers apply changes at once while a snapshot
waits for them and then runs alone (its checkpoint covers nothing half-applied).
Waiters are served in arrival order (consecutive readers together), so a stream of searches
cannot starve a writer and vice versa. `release` is synchronous so it can be called from a
future's done-callback: the index releases only when its worker thread has really finished,
even if the awaiting task was cancelled meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import AsyncIterator


class RWLock:
    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._waiters: deque[tuple[bool, asyncio.Future[None]]] = deque()

    def _can_take(self, exclusive: bool) -> bool:
        if exclusive:
            return not self._writer and self._readers == 0
        return not self._writer

    def _take(self, exclusive: bool) -> None:
        if exclusive:
            self._writer = True
        else:
            self._readers += 1

    async def acquire(self, exclusive: bool) -> None:
        if not self._waiters and self._can_take(exclusive):
            self._take(exclusive)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (exclusive, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(exclusive)  # granted just as we were cancelled: hand it on
            else:
                if entry in self._waiters:  # _wake may already have dropped it
                    self._waiters.remove(entry)
                self._wake()  # we may have been the writer blocking readers behind us
            raise

    def release(self, exclusive: bool) -> None:
        if exclusive:
            assert self._writer, "release of a write lock that is not held"
            self._writer = False
        else:
            assert self._readers > 0, "release of a read lock that is not held"
            self._readers -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            exclusive, fut = self._waiters[0]
            if fut.done():  # cancelled while queued; its acquire() cleans up too
                self._waiters.popleft()
                continue
            if not self._can_take(exclusive):
                return
            self._waiters.popleft()
            self._take(exclusive)
            fut.set_result(None)

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        await self.acquire(False)
        try:
            yield
        finally:
            self.release(False)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        await self.acquire(True)
        try:
            yield
        finally:
            self.release(True)

    @property
    def readers(self) -> int:
        return self._readers

    @property
    def writing(self) -> bool:
        return self._writer
