"""Concurrent steps whose failure keeps the core's error types.

An `asyncio.TaskGroup` reports failures as an ExceptionGroup, which the edges do not map (a
database outage during a search became INTERNAL_SERVER_ERROR instead of a 503). `together()`
is a TaskGroup that re-raises the failure of its first failing task as itself."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from memory.errors import AgentMemError


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
