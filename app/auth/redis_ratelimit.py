"""The token bucket kept in Redis, so that every replica draws from one bucket (app/auth/ratelimit.py
has the protocol and the in-process one). Its own module: redis and what it imports take ~10 MiB,
loaded only where a redis_url is set."""
from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.auth.ratelimit import Bucket

log = logging.getLogger(__name__)

LIMITER_CONNECTIONS = 16  # a check is one round trip (~0.1 ms): 16 sockets serve thousands a second


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


def limiter_client(url: str, timeout_s: float = 2.0, connections: int = LIMITER_CONNECTIONS) -> aioredis.Redis:
    """The limiter's Redis client: at most `connections` sockets, and a burst of requests waits up to
    `timeout_s` for one of them. Without a bound every request of a burst opened a socket of its
    own (100 at once: ~45 ms on an idle machine against ~15 ms for the bounded pool), and under load
    some of those connections timed out and let their requests through."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=connections, timeout=timeout_s,
                                                    socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool


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
