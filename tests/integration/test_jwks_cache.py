"""The key cache against the local fake provider: concurrent callers share one fetch, a caller
that gives up does not cancel it, and a provider that does not answer is bounded by the timeout."""
from __future__ import annotations

import asyncio

import pytest

from app.auth.jwks import JwksCache
from app.settings import IdpSettings
from memory.errors import StoreUnavailable, Unauthenticated
from tests.fixtures.idp_fake import AUDIENCE, FakeIdp


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache_for(idp: FakeIdp, **cfg: object) -> JwksCache:
    return JwksCache(IdpSettings(issuer=idp.issuer, audience=AUDIENCE, **cfg))  # type: ignore[arg-type]


async def until(event: asyncio.Event) -> None:
    async with asyncio.timeout(5):
        await event.wait()


async def test_concurrent_callers_share_one_fetch(fake_idp: FakeIdp) -> None:
    fake_idp.gate = asyncio.Event()
    cache = cache_for(fake_idp)
    try:
        callers = [asyncio.create_task(cache.key("rsa-1", "RS256")) for _ in range(20)]
        callers += [asyncio.create_task(cache.key("ec-1", "ES256")) for _ in range(5)]
        strangers = [asyncio.create_task(cache.key(f"unknown-{n}", "RS256")) for n in range(5)]
        await until(fake_idp.arrived)  # the one fetch reached the provider; every caller waits on it
        fake_idp.gate.set()
        keys = await asyncio.gather(*callers)
        assert {k.kid for k in keys} == {"rsa-1", "ec-1"}
        for task in asyncio.as_completed(strangers):
            with pytest.raises(Unauthenticated):
                await task
        assert fake_idp.requests == {"discovery": 1, "jwks": 1}
    finally:
        await cache.close()


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_fetch(fake_idp: FakeIdp) -> None:
    fake_idp.gate = asyncio.Event()
    cache = cache_for(fake_idp)
    try:
        impatient = asyncio.create_task(cache.key("rsa-1", "RS256"))
        patient = asyncio.create_task(cache.key("rsa-1", "RS256"))
        await until(fake_idp.arrived)
        impatient.cancel()
        fake_idp.gate.set()
        assert (await patient).kid == "rsa-1"
        assert impatient.cancelled()
        assert fake_idp.requests["jwks"] == 1
    finally:
        await cache.close()


async def test_an_expired_set_is_fetched_again_even_within_the_refresh_interval(fake_idp: FakeIdp) -> None:
    fake_idp.cache_control = "max-age=5"
    cache = cache_for(fake_idp, jwks_cache_min_s=0, jwks_refresh_interval_s=60)
    cache.clock = clock = Clock()
    try:
        await cache.key("rsa-1", "RS256")
        clock.now += 6  # expired; the interval only limits refreshes for unknown kids and after failures
        await cache.key("rsa-1", "RS256")
        assert fake_idp.requests["jwks"] == 2
    finally:
        await cache.close()


async def test_a_provider_that_never_answers_is_bounded_by_the_timeout(fake_idp: FakeIdp) -> None:
    fake_idp.gate = asyncio.Event()  # never set: the JWKS request hangs
    cache = cache_for(fake_idp, jwks_timeout_s=0.3)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(StoreUnavailable) as caught:
                await cache.key("rsa-1", "RS256")
        assert "TimeoutError" in str(caught.value)
        assert cache.state()["last_error"] is not None
    finally:
        fake_idp.gate.set()
        await cache.close()
