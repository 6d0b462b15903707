from __future__ import annotations

import asyncio

import pytest

from memory.rwlock import RWLock


async def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = RWLock()
    await lock.acquire(False)
    await lock.acquire(False)
    assert lock.readers == 2
    writer = asyncio.create_task(lock.acquire(True))
    await asyncio.sleep(0)
    assert not writer.done()
    lock.release(False)
    lock.release(False)
    await writer
    assert lock.writing and lock.readers == 0
    lock.release(True)


async def test_a_waiting_writer_is_not_starved_by_later_readers() -> None:
    lock = RWLock()
    order: list[str] = []
    await lock.acquire(False)

    async def take(name: str, exclusive: bool) -> None:
        await lock.acquire(exclusive)
        order.append(name)
        await asyncio.sleep(0.001)
        lock.release(exclusive)

    tasks = [asyncio.create_task(take("writer", True))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(take(f"reader{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    lock.release(False)
    await asyncio.gather(*tasks)
    assert order[0] == "writer" and sorted(order[1:]) == ["reader0", "reader1", "reader2"]


async def test_a_cancelled_waiting_writer_lets_the_readers_behind_it_in() -> None:
    lock = RWLock()
    await lock.acquire(False)
    writer = asyncio.create_task(lock.acquire(True))
    await asyncio.sleep(0)
    reader = asyncio.create_task(lock.acquire(False))
    await asyncio.sleep(0)
    assert not reader.done()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    await asyncio.wait_for(reader, 1)
    assert lock.readers == 2 and not lock.writing
