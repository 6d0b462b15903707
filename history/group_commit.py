"""Group commit: concurrent commits that would queue for the database's write lock one by one
share one transaction instead.

Each caller still waits until the transaction holding its change has committed, so an
acknowledged write is as durable as before; what is saved is a BEGIN/COMMIT and a few driver
round trips (thread hops on aiosqlite) per change. While one group commits, new callers gather
for the next, so groups grow with load and a lone caller commits at once. If a group fails,
its changes are retried one by one, so one bad change fails only its own caller."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from memory.errors import StoreUnavailable

T = TypeVar("T")


@dataclass(slots=True)
class _Waiting(Generic[T]):
    item: T
    future: asyncio.Future[int]


class GroupCommitter(Generic[T]):
    def __init__(self, commit: Callable[[Sequence[T]], Awaitable[list[int]]], max_group: int = 64) -> None:
        """`commit(items)` writes every item in one transaction and returns one result per item."""
        self._commit = commit
        self._max_group = max_group
        self._queue: list[_Waiting[T]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> int:
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="sql-group-commit")
        # the commit runs in its own task: a caller giving up does not roll back the others
        return await asyncio.shield(waiting.future)

    async def aclose(self) -> None:
        """Wait for the commits already submitted."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _drain(self) -> None:
        group: list[_Waiting[T]] = []
        try:
            while self._queue:
                group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
                try:
                    results = await self._commit([w.item for w in group])
                except Exception as exc:  # noqa: BLE001  handed to the callers, never lost
                    if len(group) == 1:
                        _settle(group[0].future, error=exc)
                    else:
                        await self._one_by_one(group)
                else:
                    for waiting, result in zip(group, results):
                        _settle(waiting.future, result=result)
        except asyncio.CancelledError:  # shutting down: nobody may wait forever
            for waiting in [*group, *self._queue]:
                _settle(waiting.future, error=StoreUnavailable("sql", "shutting down before the commit"))
            self._queue = []
            raise

    async def _one_by_one(self, group: list[_Waiting[T]]) -> None:
        for waiting in group:
            try:
                [result] = await self._commit([waiting.item])
            except Exception as exc:  # noqa: BLE001
                _settle(waiting.future, error=exc)
            else:
                _settle(waiting.future, result=result)


def _settle(future: asyncio.Future[int], *, result: int = 0, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
