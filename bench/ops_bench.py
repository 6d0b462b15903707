"""Operational endpoints, measured (prints figures, asserts nothing).

1. /health, /health/ready and /health/live latency over real TCP: with the default one-second
   cache, and with the cache off (every request probes SQL, the index, the embedder and the
   graph concurrently).
2. /metrics scrape time (including the live counts) with N memories in the store.

The server runs in this process on an aiohttp AppRunner (embedded SQLite, hnswlib, ONNX and,
unless --no-graph, the embedded graph server), so figures include the client's own work.

    python bench/ops_bench.py [--requests 500] [--memories 2000] [--no-graph]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads

from app.keys import SERVICE_KEY  # noqa: E402
from app.settings import GraphSettings, HealthSettings, Settings  # noqa: E402
from app.web import create_app  # noqa: E402
from memory.models import Message, Scope  # noqa: E402


def summary(name: str, timings: list[float]) -> str:
    q = statistics.quantiles(timings, n=100)
    return f"{name:<34} p50 {statistics.median(timings):7.2f} ms  p95 {q[94]:7.2f} ms  p99 {q[98]:7.2f} ms"


async def timed_gets(http: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        async with http.get(url) as resp:
            await resp.read()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(args: argparse.Namespace, cache_s: float, data: Path) -> None:
    settings = Settings(
        data_dir=data, auth={"mode": "development"}, health=HealthSettings(cache_s=cache_s),
        graph=GraphSettings(enabled=not args.no_graph),
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await timed_gets(http, base + "/health", 20)  # warm: the model loads on the first probe
            label = f"cache {cache_s:g} s"
            for path in ("/health", "/health/ready", "/health/live"):
                print(summary(f"{path} ({label})", await timed_gets(http, base + path, args.requests)))
            if cache_s:
                service = app[SERVICE_KEY]
                scope = Scope(user_id="bench")
                for i in range(0, args.memories, 50):
                    messages = [Message("user", f"bench fact number {j}") for j in range(i, min(i + 50, args.memories))]
                    await service.add(messages, scope, infer=False)
                scrapes = await timed_gets(http, base + "/metrics", 50)
                async with http.get(base + "/metrics") as resp:
                    size = len(await resp.read())
                print(summary(f"/metrics ({args.memories} memories, {size // 1024} KiB)", scrapes))
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--no-graph", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run(args, 1.0, Path(tmp) / "cached")
        await run(args, 0.0, Path(tmp) / "uncached")


if __name__ == "__main__":
    asyncio.run(main())
