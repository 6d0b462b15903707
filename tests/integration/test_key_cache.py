"""KeyManager's short trust of verified keys, on the real credential store: one row read serves
repeated requests, a revocation through the manager is immediate, one made elsewhere holds for
at most the cache time, and failures are never remembered."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.auth.keys import KeyManager, SecretHasher
from history.credentials import SqlCredentialStore
from history.engine import create_engine
from memory.access import Role
from memory.errors import Unauthenticated
from memory.models import utcnow


class CountingStore(SqlCredentialStore):
    reads = 0

    async def get_key(self, id: str):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().get_key(id)


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
