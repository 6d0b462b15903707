"""KeyManager's short trust of verified keys, on the real credential store: one row read serves
repeated requests (and the requests that miss together), a revocation through the manager is
immediate, one made elsewhere holds for at most the cache time, and failures are never remembered."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.auth.keys import KeyManager, SecretHasher
from history.credentials import SqlCredentialStore
from history.engine import create_engine
from memory.access import Role
from memory.errors import Unauthenticated
from memory.models import utcnow


class CountingStore(SqlCredentialStore):
    """Counts row reads. With `answer` set, a read holds what it read until that is set (a slow
    database), and says so in `read`; with `write` set, a revocation or rotation is written only
    once that is set (`writing` says one is waiting); with `error` set, a read fails with it."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.read = asyncio.Condition()
        self.answer: asyncio.Event | None = None
        self.write: asyncio.Event | None = None
        self.writing = asyncio.Event()
        self.error: Exception | None = None

    async def get_key(self, id: str):  # type: ignore[no-untyped-def]
        row = await super().get_key(id)
        async with self.read:
            self.reads += 1
            self.read.notify_all()
        if self.answer is not None:
            await self.answer.wait()
        if self.error is not None:
            raise self.error
        return row

    async def reads_reach(self, n: int) -> None:
        async with asyncio.timeout(5), self.read:  # a read that never comes fails the test
            await self.read.wait_for(lambda: self.reads >= n)

    async def revoke_key(self, id: str, at):  # type: ignore[no-untyped-def]
        await self._held_write()
        return await super().revoke_key(id, at)

    async def replace_key(self, old_id: str, new, at):  # type: ignore[no-untyped-def]
        await self._held_write()
        return await super().replace_key(old_id, new, at)

    async def _held_write(self) -> None:
        if self.write is not None:
            self.writing.set()
            await self.write.wait()


async def at_once(keys: KeyManager, store: CountingStore, text: str, requests: int, reads: int) -> list[Any]:
    """What `requests` concurrent checks of `text` end with (a record or an error), their row
    reads held until `reads` of them have begun."""
    store.answer = asyncio.Event()
    waiting = [asyncio.create_task(keys.authenticate(text)) for _ in range(requests)]
    await store.reads_reach(reads)
    store.answer.set()
    return await asyncio.gather(*waiting, return_exceptions=True)


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[CountingStore]:
    store = CountingStore(create_engine(sqlite_url))
    yield store
    await store.close()


async def test_a_verified_key_is_read_once_within_the_cache_time(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    for _ in range(5):
        assert (await keys.authenticate(text)).id == record.id
    assert store.reads == 1


async def test_a_revocation_through_the_manager_is_immediate(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    await keys.authenticate(text)
    await keys.revoke(record.id)
    with pytest.raises(Unauthenticated):
        await keys.authenticate(text)


async def test_a_revocation_elsewhere_holds_at_most_the_cache_time(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=0.3)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    await keys.authenticate(text)
    await store.revoke_key(record.id, utcnow())  # as the CLI or another replica would
    await asyncio.sleep(0.4)
    with pytest.raises(Unauthenticated):
        await keys.authenticate(text)


async def test_failures_are_not_cached_and_no_cache_reads_every_time(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    wrong = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await keys.authenticate(wrong)
    assert store.reads == 2
    uncached = KeyManager(store, SecretHasher(), cache_s=0)
    await uncached.authenticate(text)
    await uncached.authenticate(text)
    assert store.reads == 4


async def test_requests_that_miss_together_share_one_read_which_none_of_them_cancels(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    store.answer = asyncio.Event()
    waiting = [asyncio.create_task(keys.authenticate(text)) for _ in range(16)]
    await store.reads_reach(1)  # the other 15 joined it as they came, before it began
    waiting[0].cancel()  # its client went away
    store.answer.set()
    answers = await asyncio.gather(*waiting[1:])
    assert {r.id for r in answers} == {record.id}
    assert store.reads == 1
    await keys.authenticate(text)
    assert store.reads == 1  # and the row read is trusted for the cache time


async def test_a_shared_read_that_fails_fails_its_requests_and_the_next_request_reads_again(
    store: CountingStore,
) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    store.error = RuntimeError("database gone")
    for outcome in await at_once(keys, store, text, requests=4, reads=1):
        assert isinstance(outcome, RuntimeError)
    assert store.reads == 1
    store.error = None
    assert (await keys.authenticate(text)).id == record.id
    assert store.reads == 2


async def test_without_a_cache_every_request_reads_the_row_itself(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=0)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    assert {r.id for r in await at_once(keys, store, text, requests=4, reads=4)} == {record.id}
    assert store.reads == 4


async def test_a_read_that_raced_a_revocation_is_not_joined_by_a_later_request(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    store.answer = asyncio.Event()
    before = asyncio.create_task(keys.authenticate(text))  # reads the row as it was
    await store.reads_reach(1)
    await keys.revoke(record.id)
    after = asyncio.create_task(keys.authenticate(text))
    await store.reads_reach(2)
    store.answer.set()
    assert (await before).id == record.id  # asked before the revocation
    with pytest.raises(Unauthenticated):
        await after


async def test_a_read_that_raced_a_revocation_is_not_cached(store: CountingStore) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    store.answer = asyncio.Event()
    before = asyncio.create_task(keys.authenticate(text))
    await store.reads_reach(1)
    await keys.revoke(record.id)
    store.answer.set()
    assert (await before).id == record.id
    with pytest.raises(Unauthenticated):
        await keys.authenticate(text)


@pytest.mark.parametrize("ending", ["revoke", "rotate"])
async def test_a_row_read_while_the_key_is_revoked_or_rotated_is_not_trusted_once_that_is_written(
    store: CountingStore, ending: str
) -> None:
    keys = KeyManager(store, SecretHasher(), cache_s=30)
    record, text = await keys.create("agent", Role.USER, user_id="alice")
    store.write = asyncio.Event()
    ended = asyncio.create_task(keys.revoke(record.id) if ending == "revoke" else keys.rotate(record.id))
    async with asyncio.timeout(5):
        await store.writing.wait()
    assert (await keys.authenticate(text)).id == record.id  # the row as it still is
    store.write.set()
    await ended
    with pytest.raises(Unauthenticated):
        await keys.authenticate(text)
