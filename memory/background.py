"""Small helpers for the core's background tasks."""
from __future__ import annotations

import asyncio
from typing import Any


async def cancel(task: asyncio.Task[Any] | None, *, again_after_s: float | None = 10.0) -> None:
    """Cancel a background task and wait until it has really stopped; its own failure, if any,
    propagates. A task still running `again_after_s` later is cancelled again rather than waited
    for forever: it may have swallowed the cancellation (Python 3.11's wait_for does when the
    awaited thing completes in the same loop turn), and its clean-up has had its time (None:
    a clean-up that may rightly take longer, such as stopping a child process, is waited for).
    A cancellation of the caller itself (a shutdown's own deadline) still propagates."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=again_after_s)
    if not task.cancelled():
        task.result()
