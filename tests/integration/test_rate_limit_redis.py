"""Rate limits shared through the real Redis: two app instances (replicas on one PostgreSQL
database) draw from one bucket per principal and one per client address; the Lua step is
atomic under concurrency; an unreachable Redis lets requests through."""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from app.auth.ratelimit import Bucket
from app.auth.redis_ratelimit import RedisRateLimiter, limiter_client
from app.web import create_app
from tests.api.authkit import Caller, error_code, idp_token, make_key, secure_settings

REDIS_URL = os.environ.get("AGENTMEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WHOAMI = "{ memories(first: 1) { nodes { id } } }"
ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def redis_client() -> aioredis.Redis:
    client = limiter_client(REDIS_URL)  # as the service's limiter makes it
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        if os.environ.get("AGENTMEM_REQUIRE_REDIS") == "1":
            raise
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


Replicas = Callable[..., Awaitable[tuple[TestClient, TestClient]]]


@pytest.fixture
def start_replicas(redis_client: aioredis.Redis, aiohttp_client: ClientFactory, tmp_path: Path) -> Replicas:
    """Two app instances sharing Redis (and, when given, one database)."""
    prefix = f"agentmem-test:{uuid.uuid4().hex}:"

    async def start(**extra: object) -> tuple[TestClient, TestClient]:
        common = {
            "redis_url": REDIS_URL, "redis_channel": prefix + "events",
            "limits": {"redis_prefix": prefix, "requests_per_s": 2, "burst": 4,
                       "auth_failures_per_min": 60, "auth_failure_burst": 3},
            "auth": {"token_secret": "a-shared-token-secret-for-both-replicas-0123"},
            **extra,
        }
        one = await aiohttp_client(create_app(secure_settings(tmp_path / "one", replica_id="one", **common)))
        two = await aiohttp_client(create_app(secure_settings(tmp_path / "two", replica_id="two", **common)))
        return one, two

    return start


async def spend_and_recover(one: Caller, two: Caller) -> None:
    statuses = [(await caller.post(WHOAMI))[0] for caller in (one, two) * 2]
    assert statuses == [200, 200, 200, 200]  # the burst of 4, spent on both replicas
    status, body = await two.post(WHOAMI)
    assert status == 429 and error_code(body) == "RATE_LIMITED"
    assert (await one.post(WHOAMI))[0] == 429
    await asyncio.sleep(body["errors"][0]["extensions"]["retryAfter"] + 0.05)
    assert (await one.post(WHOAMI))[0] == 200  # and recovers, at 2 per second
    assert (await two.post(WHOAMI))[0] == 429


async def test_two_replicas_share_one_bucket_per_principal(start_replicas: Replicas) -> None:
    one, two = await start_replicas()
    token = idp_token(sub="alice")  # a principal both replicas know without a shared database
    await spend_and_recover(Caller(one, token), Caller(two, token))


async def test_replicas_on_one_database_share_keys_and_their_bucket(pg_url: str, start_replicas: Replicas) -> None:
    # pg_url first: the apps close before their database is dropped
    one, two = await start_replicas(database_url=pg_url)
    key = await make_key(one.app, "user", user_id="alice")  # made on one, valid on both
    await spend_and_recover(Caller(one, key), Caller(two, key))


async def test_failed_authentications_count_across_replicas(start_replicas: Replicas) -> None:
    one, two = await start_replicas()
    forged = "amk_0123456789abcdef_" + "x" * 43
    assert [(await Caller(c, forged).post(WHOAMI))[0] for c in (one, two, one)] == [401, 401, 401]
    status, body = await Caller(two, forged).post(WHOAMI)
    assert status == 429 and body["errors"][0]["extensions"]["retryAfter"] <= 1.001


async def test_the_lua_step_is_atomic_under_concurrency(redis_client: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(redis_client, f"agentmem-test:{uuid.uuid4().hex}:")
    bucket = Bucket(rate=0.001, burst=30)
    waits = await asyncio.gather(*(limiter.acquire("k", bucket) for _ in range(100)))
    assert sum(1 for w in waits if w == 0) == 30
    assert all(w > 0 for w in waits if w != 0)


async def test_an_unreachable_redis_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = RedisRateLimiter(client)
        assert await limiter.acquire("k", Bucket(1, 1)) == 0
        assert await limiter.acquire("k", Bucket(1, 1)) == 0
    finally:
        await client.aclose()
    assert "rate limiter unavailable" in caplog.text
