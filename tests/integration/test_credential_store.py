"""SqlCredentialStore on SQLite and PostgreSQL: keys, revocation with their token families,
rotation, batched last use, and the refresh token's compare-and-set."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from history.credentials import SqlCredentialStore
from history.engine import create_engine
from memory.access import Role
from memory.credentials import ApiKeyRecord, RefreshTokenRecord
from memory.models import utcnow


@pytest.fixture
async def store(sql_url: str) -> AsyncIterator[SqlCredentialStore]:
    store = SqlCredentialStore(create_engine(sql_url))
    yield store
    await store.close()


def key(id: str, **changes: object) -> ApiKeyRecord:
    values: dict[str, object] = {"id": id, "name": f"key {id}", "secret_hash": "sha256:00", "role": Role.USER,
                                 "user_id": "alice", "agent_id": None, "created_at": utcnow()}
    values.update(changes)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


def token(id: str, family: str, key_id: str) -> RefreshTokenRecord:
    now = utcnow()
    return RefreshTokenRecord(id=id, family_id=family, key_id=key_id, secret_hash="sha256:11", created_at=now,
                              expires_at=now + timedelta(days=1))


async def test_keys_round_trip_and_list_in_creation_order(store: SqlCredentialStore) -> None:
    first, second = key("a" * 16), key("b" * 16, role=Role.AGENT, agent_id="bot", created_by="key:root")
    await store.add_key(first)
    await store.add_key(second)
    assert await store.get_key(second.id) == second
    assert await store.get_key("missing") is None
    assert [k.id for k in await store.list_keys(include_revoked=False)] == [first.id, second.id]


async def test_revoking_a_key_revokes_its_families_and_keeps_the_first_time(store: SqlCredentialStore) -> None:
    await store.add_key(key("a" * 16))
    await store.add_refresh_token(token("t1", "f1", "a" * 16))
    at = utcnow()
    revoked = await store.revoke_key("a" * 16, at)
    assert revoked is not None and revoked.revoked_at == at
    again = await store.revoke_key("a" * 16, at + timedelta(seconds=5))
    assert again is not None and again.revoked_at == at
    assert await store.list_keys(include_revoked=False) == []
    found = await store.get_refresh_token("t1")
    assert found is not None and found.revoked_at == at
    assert not await store.use_refresh_token("t1", utcnow())


async def test_rotation_adds_and_revokes_together(store: SqlCredentialStore) -> None:
    await store.add_key(key("a" * 16))
    new = key("b" * 16)
    assert await store.replace_key("a" * 16, new, utcnow()) == new
    assert await store.replace_key("a" * 16, key("c" * 16), utcnow()) is None  # already revoked
    assert await store.get_key("c" * 16) is None
    assert [k.id for k in await store.list_keys(include_revoked=False)] == ["b" * 16]


async def test_last_use_is_written_in_one_batch(store: SqlCredentialStore) -> None:
    for id in ("a" * 16, "b" * 16):
        await store.add_key(key(id))
    at = utcnow()
    await store.touch_keys([("a" * 16, at), ("b" * 16, at), ("missing", at)])
    assert {k.last_used_at for k in await store.list_keys(include_revoked=True)} == {at}


async def test_a_refresh_token_is_used_once_even_under_concurrency(store: SqlCredentialStore) -> None:
    await store.add_refresh_token(token("t1", "f1", "k"))
    results = await asyncio.gather(*(store.use_refresh_token("t1", utcnow()) for _ in range(8)))
    assert results.count(True) == 1


async def test_a_family_revocation_also_covers_tokens_added_later(store: SqlCredentialStore) -> None:
    await store.add_refresh_token(token("t1", "f1", "k"))
    assert await store.revoke_family("f1", utcnow()) == 1
    await store.add_refresh_token(token("t2", "f1", "k"))  # a refresh that raced the revocation
    late = await store.get_refresh_token("t2")
    assert late is not None and late.revoked_at is not None
    assert not await store.use_refresh_token("t2", utcnow())


async def test_families_whose_tokens_all_expired_are_purged_and_live_ones_kept(store: SqlCredentialStore) -> None:
    old = utcnow() - timedelta(days=2)
    await store.add_refresh_token(replace(token("gone1", "old", "k"), expires_at=old))
    await store.add_refresh_token(replace(token("gone2", "old", "k"), expires_at=old + timedelta(hours=1)))
    await store.add_refresh_token(replace(token("used", "mixed", "k"), expires_at=old))
    await store.add_refresh_token(token("live", "mixed", "k"))
    assert await store.purge_refresh_tokens(utcnow()) == 2
    assert await store.get_refresh_token("gone1") is None and await store.get_refresh_token("gone2") is None
    # the family is kept whole while one token lives: reusing its used token is still detected
    assert await store.get_refresh_token("used") is not None and await store.get_refresh_token("live") is not None
