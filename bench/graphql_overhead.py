"""GraphQL overhead, measured side by side in one run (prints figures, asserts nothing).

1. `search` through HTTP + GraphQL against the same call on the core directly (p50/p95).
2. A trivial query's requests/second with concurrent clients.
3. Events/second delivered to N concurrent subscribers (graphql-transport-ws), each of which
   must receive every event.

Server and clients share one process and event loop (the app runs on an aiohttp AppRunner on
127.0.0.1), so the HTTP figures include the client's own work: they overstate the server's cost.

    python bench/graphql_overhead.py [--memories 2000] [--queries 300] [--concurrency 16]
                                     [--subscribers 100] [--events 500]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
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
from memory.events import EventKind, MemoryEvent  # noqa: E402
from memory.models import Message, Scope  # noqa: E402

WORDS = ("coffee tea pizza sushi paris lyon berlin piano guitar running swimming chess python rust "
         "garden dog cat novel film jazz mountain beach train bicycle bread cheese").split()
SEARCH = """query($q: String!) {
  search(query: $q, scope: {userId: "bench"}, limit: 10) { hits { score memory { id text } } }
}"""
SUBSCRIPTION = "subscription { memoryEvents { kind memoryId memory { id text } } }"


def sentence(rng: random.Random) -> str:
    return f"I like {' and '.join(rng.sample(WORDS, 3))} on {rng.choice(['mondays', 'weekends', 'holidays'])}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(service: Any, count: int, rng: random.Random) -> None:
    scope = Scope(user_id="bench")
    for start in range(0, count, 50):
        batch = [Message("user", f"{sentence(rng)} #{i}") for i in range(start, min(count, start + 50))]
        await service.add(batch, scope, infer=False)


async def bench_search(http: aiohttp.ClientSession, url: str, service: Any, queries: int, rng: random.Random) -> None:
    texts = [sentence(rng) for _ in range(queries)]
    direct: list[float] = []
    over_http: list[float] = []
    scope = Scope(user_id="bench")
    for text in texts[:20]:  # warm-up both paths
        await service.search(text, scope, limit=10)
        async with http.post(url, json={"query": SEARCH, "variables": {"q": text}}) as resp:
            await resp.read()
    for i, text in enumerate(texts):
        for path in ((0, 1) if i % 2 else (1, 0)):  # alternate which goes first
            t0 = time.perf_counter()
            if path == 0:
                await service.search(text, scope, limit=10)
                direct.append(time.perf_counter() - t0)
            else:
                async with http.post(url, json={"query": SEARCH, "variables": {"q": text}}) as resp:
                    body = await resp.json()
                over_http.append(time.perf_counter() - t0)
                assert "errors" not in body, body
    ms = 1000.0
    d50, d95 = statistics.median(direct) * ms, pct(direct, 0.95) * ms
    h50, h95 = statistics.median(over_http) * ms, pct(over_http, 0.95) * ms
    print(f"search x{queries}: core direct p50 {d50:.2f} ms  p95 {d95:.2f} ms")
    print(f"search x{queries}: HTTP+GraphQL p50 {h50:.2f} ms  p95 {h95:.2f} ms")
    print(f"search: GraphQL overhead p50 {h50 - d50:+.2f} ms  p95 {h95 - d95:+.2f} ms (target <= 2 ms at p50)")


async def bench_trivial(http: aiohttp.ClientSession, url: str, concurrency: int, seconds: float) -> None:
    done = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    payload = json.dumps({"query": "{ __typename }"})

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            async with http.post(url, data=payload, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                assert resp.status == 200
            latencies.append(time.perf_counter() - t0)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    print(f"trivial query {{ __typename }}: {done / elapsed:.0f} req/s with {concurrency} concurrent clients "
          f"(p50 {statistics.median(latencies) * 1000:.2f} ms, p95 {pct(latencies, 0.95) * 1000:.2f} ms)")


async def subscriber(http: aiohttp.ClientSession, ws_url: str, expected: int, ready: asyncio.Event,
                     counts: list[int], index: int) -> None:
    async with http.ws_connect(ws_url, protocols=["graphql-transport-ws"], max_msg_size=0) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json())["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        ready.set()
        while counts[index] < expected:
            message = await ws.receive_json()
            if message.get("type") == "next":
                counts[index] += 1


async def bench_events(http: aiohttp.ClientSession, ws_url: str, service: Any, subscribers: int, events: int) -> None:
    counts = [0] * subscribers
    ready = asyncio.Event()
    tasks = [asyncio.create_task(subscriber(http, ws_url, events, ready, counts, i)) for i in range(subscribers)]
    async with asyncio.timeout(60):
        while service.events.subscriber_count < subscribers:
            await asyncio.sleep(0.01)
    record = (await service.list_memories(Scope(user_id="bench"), first=1)).items[0]
    start = time.perf_counter()
    for _ in range(events):
        await service.events.publish(MemoryEvent(EventKind.UPDATE, record.scope, record.id, record, record.text))
        await asyncio.sleep(0)  # let deliveries interleave, as real writes would
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*tasks)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    delivered = sum(counts)
    print(f"events: {events} events x {subscribers} subscribers: {delivered} deliveries in {elapsed:.2f} s = "
          f"{delivered / elapsed:.0f} deliveries/s ({events / elapsed:.1f} events/s to all); "
          f"dropped {subscribers * events - delivered}; every subscriber got every event: "
          f"{all(c == events for c in counts)}")
    for task in tasks:
        task.cancel()


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), graph={"enabled": False}, auth={"mode": "development"})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url, ws_url = f"http://127.0.0.1:{port}/graphql", f"ws://127.0.0.1:{port}/graphql"
        service = app[SERVICE_KEY]
        try:
            t0 = time.perf_counter()
            await seed(service, args.memories, rng)
            print(f"seeded {args.memories} memories in {time.perf_counter() - t0:.1f} s (graph disabled, ONNX embedder)")
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                await bench_search(http, url, service, args.queries, rng)
                await bench_trivial(http, url, args.concurrency, args.seconds)
                await bench_events(http, ws_url, service, args.subscribers, args.events)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--memories", type=int, default=2000)
    cli.add_argument("--queries", type=int, default=300)
    cli.add_argument("--concurrency", type=int, default=16)
    cli.add_argument("--seconds", type=float, default=5.0)
    cli.add_argument("--subscribers", type=int, default=100)
    cli.add_argument("--events", type=int, default=500)
    asyncio.run(main(cli.parse_args()))
