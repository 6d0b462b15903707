"""Token buckets: in this process, or in Redis so that every replica draws from one bucket.

A bucket holds up to `burst` tokens and refills at `rate` per second. `acquire` takes `cost`
tokens and answers 0, or the seconds to wait when there are not enough; cost 0 only asks
whether one token is there (used to refuse authentication from an address that has failed
too often, before doing the work)."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from redis.exceptions import RedisError

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


# One atomic step on a hash {tokens, ts}. The clock is Redis' own (TIME), so replicas with
# skewed clocks still share one bucket correctly. Numbers go back as a string: Redis would
# truncate a Lua number to an integer.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local need = math.max(cost, 1)
local wait = 0
if tokens >= need then
  tokens = tokens - cost
else
  wait = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Shared by every replica using the same Redis and prefix. When Redis does not answer, the
    request is let through (and a warning logged): an outage of the limiter should not become
    an outage of the API."""

    def __init__(self, redis: Any, prefix: str = "agentmem:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_LUA)

    async def acquire(self, key: str, bucket: Bucket, cost: float = 1.0) -> float:
        try:
            answer = await self._script(keys=[self._prefix + key], args=[bucket.rate, bucket.burst, cost])
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable, request allowed: %s", exc)
            return 0.0
        return float(answer)


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
