"""Concurrent steps whose failure keeps the core's error types, and calls shared by the callers
that ask for the same thing at once.

An `asyncio.TaskGroup` reports failures as an ExceptionGroup, which the edges do not map (a
database outage during a search became INTERNAL_SERVER_ERROR instead of a 503). `together()`
is a TaskGroup that re-raises the failure of its first failing task as itself."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from memory.errors import AgentMemError

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@contextlib.asynccontextmanager
async def together() -> AsyncIterator[asyncio.TaskGroup]:
    try:
        async with asyncio.TaskGroup() as tg:
            yield tg
    except BaseExceptionGroup as group:
        errors = _leaves(group)
        # the core's own error says most (StoreUnavailable, InvalidInput); else the first one
        chosen = next((e for e in errors if isinstance(e, AgentMemError)), errors[0])
        raise chosen from group


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


class SharedCalls(Generic[K, T]):
    """At most one call in flight per key, shared by every caller that asks for that key
    meanwhile (a look-up many concurrent requests would each have made). Callers await it
    through a shield, so one that gives up (its client gone) cancels no one else's wait. The
    call is forgotten once it ends; its error is retrieved then (asyncio would otherwise report
    one every caller gave up on as never retrieved), and an unexpected one logged at debug."""

    def __init__(self, name: str) -> None:
        self._name = name  # the tasks' name
        self._running: dict[K, asyncio.Task[T]] = {}

    def running(self, key: K) -> asyncio.Task[T] | None:
        return self._running.get(key)

    def start(self, key: K, call: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
        """The call in flight for `key`, else `call()` started now (await it shielded)."""
        task = self._running.get(key)
        if task is None:
            task = self._running[key] = asyncio.create_task(call(), name=self._name)
            task.add_done_callback(functools.partial(self._ended, key))
        return task

    async def join(self, key: K, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """What the call in flight for `key` (else `call()`, started now) returns or raises."""
        return await asyncio.shield(self.start(key, call))

    def drop(self) -> None:
        """Forget the calls in flight, which still answer those awaiting them: whoever asks
        next starts a new one."""
        self._running.clear()

    def cancel(self) -> None:
        for task in self._running.values():
            task.cancel()
        self._running.clear()

    def _ended(self, key: K, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, AgentMemError):  # a bug, which no caller may have seen
            log.debug("%s failed", self._name, exc_info=error)
