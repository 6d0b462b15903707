"""Small helpers for the core's background tasks."""
from __future__ import annotations

import asyncio
from typing import Any

_RECANCEL_S = 1.0


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has really stopped; its own failure, if any,
    propagates. A task that swallowed the cancellation (Python 3.11's wait_for does when the
    awaited thing completes in the same loop turn) is cancelled again rather than waited for
    forever. A cancellation of the caller itself (a shutdown's own deadline) still propagates."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_S)
    if not task.cancelled():
        task.result()
