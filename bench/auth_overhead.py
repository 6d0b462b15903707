"""What authentication and rate limiting cost (prints figures, asserts nothing).

1. The authenticator alone, per credential kind: API key (one SQL look-up), our access token
   (HS256 check + the key's look-up), the identity provider's HS256 and RS256 tokens.
2. `{ __typename }` over HTTP, p50/p95 per request: development mode (no authentication)
   against each credential kind, on one server.
3. Token buckets: the in-process limiter, and the Redis one (sequential round trips, and
   many callers at once), in acquisitions per second.

    python bench/auth_overhead.py [--requests 2000] [--redis redis://127.0.0.1:6379/0]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import jwt
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads

from app.auth import AUTHENTICATOR_KEY, KEY_MANAGER_KEY, TOKENS_KEY  # noqa: E402
from app.auth.ratelimit import Bucket, MemoryRateLimiter  # noqa: E402
from app.auth.redis_ratelimit import RedisRateLimiter  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.web import create_app  # noqa: E402
from memory.access import Role  # noqa: E402
from tests.api.authkit import IDP_AUDIENCE, IDP_ISSUER, rsa_keys  # noqa: E402

QUERY = {"query": "{ __typename }"}


def ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95)]
    return f"p50 {statistics.median(samples) * 1000:.3f} ms  p95 {p95 * 1000:.3f} ms"


async def serve(settings: Settings) -> tuple[web.AppRunner, str, web.Application]:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/graphql", app


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(min(50, n)):  # warm up
        await call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


def idp_token(key: Any, algorithm: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "alice", "exp": now + 3600, "iat": now},
                      key, algorithm=algorithm)


async def credentials(app: web.Application, private_pem: bytes) -> dict[str, str]:
    _, key = await app[KEY_MANAGER_KEY].create("bench", Role.USER, user_id="alice")
    pair = await app[TOKENS_KEY].exchange(key)
    return {"api key": key, "access token": pair.access_token, "idp RS256": idp_token(private_pem, "RS256")}


async def http_figures(args: argparse.Namespace, tmp: Path) -> None:
    private_pem, public_pem = rsa_keys()
    common: dict[str, Any] = {"graph": {"enabled": False}, "limits": {"rate_limits": False}}
    idp = {"public_key": public_pem, "issuer": IDP_ISSUER, "audience": IDP_AUDIENCE}
    dev_runner, dev_url, _ = await serve(Settings(data_dir=tmp / "dev", auth={"mode": "development"}, **common))
    runner, url, app = await serve(Settings(data_dir=tmp / "auth", auth={"idp": idp}, **common))
    try:
        creds = await credentials(app, private_pem)
        authenticator = app[AUTHENTICATOR_KEY]
        print("authenticator alone (verify):")
        for name, credential in creds.items():
            samples = await timed(args.requests, lambda c=credential: authenticator.verify(c))  # type: ignore[attr-defined]
            print(f"  {name:14s} {ms(samples)}")
        print("{ __typename } over HTTP (client in the same process):")
        async with aiohttp.ClientSession() as http:
            async def post(target: str, headers: dict[str, str]) -> None:
                async with http.post(target, json=QUERY, headers=headers) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            base = await timed(args.requests, lambda: post(dev_url, {}))
            print(f"  {'development':14s} {ms(base)}")
            for name, credential in creds.items():
                samples = await timed(args.requests, lambda c=credential: post(url, {"Authorization": f"Bearer {c}"}))
                extra = (statistics.median(samples) - statistics.median(base)) * 1000
                print(f"  {name:14s} {ms(samples)}  (+{extra:.3f} ms p50)")
    finally:
        await runner.cleanup()
        await dev_runner.cleanup()


async def limiter_figures(args: argparse.Namespace) -> None:
    bucket = Bucket(rate=1e9, burst=10**9)
    memory = MemoryRateLimiter()
    n = args.requests * 10
    start = time.perf_counter()
    for i in range(n):
        await memory.acquire(f"p:{i % 1000}", bucket)
    print(f"in-process limiter: {n / (time.perf_counter() - start):,.0f} acquisitions/s")
    import redis.asyncio as aioredis

    client = aioredis.from_url(args.redis, max_connections=64)
    try:
        await client.ping()
    except Exception as exc:  # a benchmark without Redis still prints the rest
        print(f"Redis limiter: skipped ({exc})")
        return
    limiter = RedisRateLimiter(client, f"agentmem-bench:{uuid.uuid4().hex}:")
    try:
        start = time.perf_counter()
        for i in range(args.requests):
            await limiter.acquire(f"p:{i % 100}", bucket)
        sequential = args.requests / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(args.requests * 4 // 32):
            await asyncio.gather(*(limiter.acquire(f"p:{i}", bucket) for i in range(32)))
        concurrent = (args.requests * 4 // 32) * 32 / (time.perf_counter() - start)
        print(f"Redis limiter (Lua, EVALSHA): {sequential:,.0f}/s sequential, {concurrent:,.0f}/s with 32 at once")
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await http_figures(args, Path(tmp))
    await limiter_figures(args)


if __name__ == "__main__":
    asyncio.run(main())
