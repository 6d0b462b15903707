"""Token buckets: in this process here, or in Redis (app/auth/redis_ratelimit.py) so that every
replica draws from one bucket.

A bucket holds up to `burst` tokens and refills at `rate` per second. `acquire` takes `cost`
tokens and answers 0, or the seconds to wait when there are not enough; cost 0 only asks
whether one token is there (used to refuse authentication from an address that has failed
too often, before doing the work)."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from app.settings import LimitSettings
from memory.access import Principal
from memory.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bucket:
    rate: float  # tokens per second
    burst: int


class RateLimiter(Protocol):
    async def acquire(self, key: str, bucket: Bucket, cost: float = 1.0) -> float:
        """0 when allowed (tokens taken), else the seconds until it would be."""
        ...


def _take(tokens: float, bucket: Bucket, cost: float) -> tuple[float, float]:
    need = max(cost, 1.0)
    if tokens >= need:
        return tokens - cost, 0.0
    return tokens, (need - tokens) / bucket.rate


class MemoryRateLimiter:
    """For one process. Buckets that have refilled completely are dropped, so memory stays
    bounded by the keys active within one refill period."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._state: dict[str, tuple[float, float, Bucket]] = {}  # key -> (tokens, when, its bucket)

    async def acquire(self, key: str, bucket: Bucket, cost: float = 1.0) -> float:
        now = self._clock()
        tokens, at, _ = self._state.get(key, (float(bucket.burst), now, bucket))
        tokens = min(float(bucket.burst), tokens + (now - at) * bucket.rate)
        tokens, wait = _take(tokens, bucket, cost)
        if len(self._state) >= self._max_keys and key not in self._state:
            self._prune(now)
        self._state[key] = (tokens, now, bucket)
        return wait

    def _prune(self, now: float) -> None:
        full = [k for k, (t, at, b) in self._state.items() if t + (now - at) * b.rate >= b.burst]
        for k in full:
            del self._state[k]
        if len(self._state) >= self._max_keys:  # still full of active keys: forget the oldest half
            for k in sorted(self._state, key=lambda k: self._state[k][1])[: self._max_keys // 2]:
                del self._state[k]


class Limits:
    """The policy: one bucket per principal for every request, one per (client address,
    credential label) counting failed authentications, and one per client address for the token
    endpoint (each exchange or refresh writes a row and hashes a secret)."""

    def __init__(self, limiter: RateLimiter, settings: LimitSettings) -> None:
        self._limiter = limiter
        self.reconfigure(settings)

    def reconfigure(self, settings: LimitSettings) -> None:
        """New rates take effect on the next request (SIGHUP reload); the buckets' state stays in
        the limiter."""
        self._principal = Bucket(settings.requests_per_s, settings.burst)
        self._failures = Bucket(settings.auth_failures_per_min / 60.0, settings.auth_failure_burst)
        self._tokens = Bucket(settings.token_requests_per_min / 60.0, settings.token_burst)
        self.enabled = settings.rate_limits

    async def token_request(self, address: str) -> None:
        if self.enabled:
            _raise_if(await self._limiter.acquire("t:" + address, self._tokens), "too many token requests")

    async def charge(self, principal: Principal) -> None:
        if self.enabled:
            _raise_if(await self._limiter.acquire("p:" + principal.id, self._principal), "too many requests")

    async def failed(self, address: str, label: str) -> None:
        """Counts a failed authentication; RateLimited once this address has failed too often with
        this credential (`label`: a key id, "jwt", "none"...)."""
        if self.enabled:
            wait = await self._limiter.acquire(f"a:{address}|{label}", self._failures, 1)
            _raise_if(wait, "too many failed authentication attempts from this address")


def _raise_if(wait: float, message: str) -> None:
    if wait > 0:
        # rounded up to the millisecond so that waiting exactly this long is enough
        raise RateLimited(math.ceil(wait * 1000) / 1000, message)
