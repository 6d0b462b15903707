"""SharedCalls: concurrent callers of one key share one call; a caller that gives up cancels no
one else's wait; a failure reaches every caller and is not logged as lost; a call ended or
dropped is not joined by the next caller."""
from __future__ import annotations

import asyncio
import gc

import pytest

from memory.concurrency import SharedCalls


class Lookup:
    """A call that answers what it is told, once let go."""

    def __init__(self) -> None:
        self.calls = 0
        self.go = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> int:
        self.calls += 1
        call = self.calls
        await self.go.wait()
        if self.error is not None:
            raise self.error
        return call


async def test_callers_of_one_key_share_one_call_that_none_of_them_cancels() -> None:
    shared: SharedCalls[str, int] = SharedCalls("lookup")
    lookup = Lookup()
    waiting = [asyncio.create_task(shared.join("k", lookup)) for _ in range(8)]
    other = asyncio.create_task(shared.join("other key", lookup))
    await asyncio.sleep(0)
    waiting[0].cancel()
    lookup.go.set()
    assert await asyncio.gather(*waiting[1:]) == [1] * 7
    assert await other == 2
    assert lookup.calls == 2
    assert shared.running("k") is None  # ended: the next caller starts a new call
    assert await shared.join("k", lookup) == 3


async def test_a_failure_reaches_every_caller_and_is_not_logged_as_lost() -> None:
    lost: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: lost.append(context))
    shared: SharedCalls[str, int] = SharedCalls("lookup")
    lookup = Lookup()
    lookup.error = RuntimeError("down")
    waiting = [asyncio.create_task(shared.join("k", lookup)) for _ in range(3)]
    shared.start("unawaited", lookup)  # started in the background, awaited by no one
    given_up = asyncio.create_task(shared.join("gone", lookup))
    await asyncio.sleep(0)
    given_up.cancel()  # every caller of "gone" gave up: its failure reaches no one
    lookup.go.set()
    for outcome in await asyncio.gather(*waiting, return_exceptions=True):
        assert isinstance(outcome, RuntimeError)
    await asyncio.sleep(0)
    gc.collect()  # a task whose error nobody retrieved reports it when collected
    await asyncio.sleep(0)
    assert lost == []
    assert shared.running("k") is None and shared.running("gone") is None and shared.running("unawaited") is None


async def test_a_dropped_call_answers_its_callers_and_the_next_caller_starts_anew() -> None:
    shared: SharedCalls[str, int] = SharedCalls("lookup")
    lookup, later = Lookup(), Lookup()
    first = asyncio.create_task(shared.join("k", lookup))
    await asyncio.sleep(0)
    shared.drop()
    second = asyncio.create_task(shared.join("k", later))
    await asyncio.sleep(0)
    lookup.go.set()
    assert await first == 1
    await asyncio.sleep(0)
    assert shared.running("k") is not None  # the dropped call's end leaves the newer one in place
    joined = asyncio.create_task(shared.join("k", lookup))
    later.go.set()
    assert (await second, await joined) == (1, 1)
    assert (lookup.calls, later.calls) == (1, 1)


async def test_cancel_ends_the_calls_in_flight() -> None:
    shared: SharedCalls[str, int] = SharedCalls("lookup")
    lookup = Lookup()
    waiting = asyncio.create_task(shared.join("k", lookup))
    await asyncio.sleep(0)
    shared.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert shared.running("k") is None
