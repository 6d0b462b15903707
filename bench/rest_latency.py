"""REST facade latency (prints figures, asserts nothing): POST /v1/memories (infer: false, one
message) and POST /v2/memories/search/ (mem0 filters) against the same calls on the core
directly, p50/p95, on a store seeded with --memories memories.

Server and client share one process and event loop (AppRunner on 127.0.0.1, development mode),
so the HTTP figures include the client's own work: they overstate the server's cost.

    python bench/rest_latency.py [--memories 2000] [--requests 300]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads

from app.keys import SERVICE_KEY  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.web import create_app  # noqa: E402
from memory.models import Message, Scope  # noqa: E402

WORDS = ("coffee tea pizza sushi paris lyon berlin piano guitar running swimming chess python rust "
         "garden dog cat novel film jazz mountain beach train bicycle bread cheese").split()


def sentence(rng: random.Random) -> str:
    return f"I like {' and '.join(rng.sample(WORDS, 3))} on {rng.choice(['mondays', 'weekends', 'holidays'])}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def paired(a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], n: int) -> tuple[list[float], list[float]]:
    """n timings of each, interleaved (alternating which goes first) so drift hits both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(n):
        for which in ((0, 1) if i % 2 else (1, 0)):
            t0 = time.perf_counter()
            await (a, b)[which]()
            samples[which].append(time.perf_counter() - t0)
    return samples


def report(name: str, samples: list[float]) -> None:
    print(f"{name:<34} p50 {pct(samples, 0.5):6.2f} ms   p95 {pct(samples, 0.95):6.2f} ms   (n={len(samples)})")


async def main(memories: int, requests: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), graph={"enabled": False}, auth={"mode": "development"})
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        service = runner.app[SERVICE_KEY]
        scope = Scope(user_id="bench")
        for start in range(0, memories, 50):
            batch = [Message("user", f"{sentence(rng)} #{i}") for i in range(start, min(memories, start + 50))]
            await service.add(batch, scope, infer=False)
        async with aiohttp.ClientSession() as http:

            async def rest_add() -> None:
                body = {"messages": sentence(rng), "user_id": "bench", "infer": False, "metadata": {"n": 1}}
                async with http.post(f"{url}/v1/memories/", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            async def core_add() -> None:
                await service.add([Message("user", sentence(rng))], scope, metadata={"n": 1}, infer=False)

            async def rest_search() -> None:
                body = {"query": sentence(rng), "filters": {"AND": [{"user_id": "bench"}]}, "top_k": 10}
                async with http.post(f"{url}/v2/memories/search/", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            async def core_search() -> None:
                await service.search(sentence(rng), scope, limit=10)

            await paired(rest_add, core_add, 10)  # warm-up
            await paired(rest_search, core_search, 10)
            print(f"{memories} memories seeded; {requests} requests each")
            over_http, direct = await paired(rest_add, core_add, requests)
            report("REST add (POST /v1/memories)", over_http)
            report("core add (direct)", direct)
            over_http, direct = await paired(rest_search, core_search, requests)
            report("REST search (POST /v2/.../search)", over_http)
            report("core search (direct)", direct)
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.memories, args.requests))
