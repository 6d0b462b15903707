"""cancel(): a background task that swallows one cancellation still stops, the task's own
failure is reported, and the caller's own cancellation is not lost."""
from __future__ import annotations

import asyncio

import pytest

from memory.background import cancel


async def test_a_task_that_swallows_the_first_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel(task, again_after_s=0.2))
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done and task.cancelled() and swallowed == 2


async def test_clean_up_that_ends_in_time_is_not_cut_short() -> None:
    cleaned = False

    async def tidy() -> None:
        nonlocal cleaned
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.3)  # e.g. a last flush to the database
            cleaned = True

    task = asyncio.create_task(tidy())
    await asyncio.sleep(0)
    await cancel(task, again_after_s=1.0)
    assert cleaned and task.cancelled()


async def test_the_tasks_own_failure_propagates() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("cleanup failed")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel(task)


async def test_the_callers_own_cancellation_is_not_swallowed() -> None:
    deaf = True

    async def refusing() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not deaf:
                    raise

    task = asyncio.create_task(refusing())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel(task))
    try:
        await asyncio.sleep(0.3)
        stopping.cancel()  # e.g. the shutdown's own deadline
        done, _ = await asyncio.wait({stopping}, timeout=5)
        assert stopping in done and stopping.cancelled()
        assert not task.done()
    finally:
        deaf = False
        task.cancel()
        await asyncio.wait({task, stopping}, timeout=5)
