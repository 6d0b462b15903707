"""What tracing costs (prints figures, asserts nothing).

1. One watched store call (a coroutine that returns at once), per observer: none, the metrics
   alone (tracing off), metrics and spans under a recorded parent, metrics and a sampled-out
   parent.
2. GraphQL search through the real app in process, p50/p95 per request, with tracing off, on
   (every trace recorded, spans handed to a processor that keeps nothing) and on at ratio 0.

    python bench/tracing_overhead.py [--calls 20000] [--requests 300]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from opentelemetry import trace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ops.metrics import Metrics  # noqa: E402
from app.ops.runtime import RUNTIME_KEY  # noqa: E402
from app.ops.tracing import Tracing  # noqa: E402
from app.settings import Settings, TracingSettings  # noqa: E402
from app.web import create_app  # noqa: E402
from memory.observe import Observer, combine, watched  # noqa: E402

SEARCH = "query Search($q: String!) { search(query: $q, scope: {userId: \"alice\"}, limit: 5) { hits { score } } }"
ADD = "mutation Add($input: AddMemoriesInput!) { addMemories(input: $input) { storedRaw } }"


class Store:
    async def get(self, key: int) -> int:
        return key


async def per_call(observer: Observer | None, calls: int, parent: trace.Span | None) -> float:
    store = watched(Store(), "sql", observer)
    with trace.use_span(parent) if parent is not None else _nothing():
        started = time.perf_counter()
        for i in range(calls):
            await store.get(i)
        return (time.perf_counter() - started) / calls * 1e6


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


async def calls_table(calls: int) -> None:
    tracing = Tracing(TracingSettings(enabled=True))
    sampled_out = Tracing(TracingSettings(enabled=True, sample_ratio=0))
    metrics = Metrics()
    rows = [
        ("no observer", None, None),
        ("metrics (tracing off)", metrics, None),
        ("metrics + spans, recorded parent", combine(metrics, tracing.observer), tracing.tracer.start_span("root")),
        ("metrics + spans, sampled-out parent", combine(metrics, sampled_out.observer),
         sampled_out.tracer.start_span("root")),
    ]
    print(f"one watched store call, {calls} calls, microseconds per call")
    for label, observer, parent in rows:
        best = min([await per_call(observer, calls, parent) for _ in range(3)])
        print(f"  {label:40s} {best:7.2f}")


async def requests_table(requests: int) -> None:
    print(f"\nGraphQL search in process, {requests} requests after 50 warm-up, ms")
    for label, tracing in (("tracing off", {}), ("tracing on, all recorded", {"enabled": True}),
                           ("tracing on, ratio 0", {"enabled": True, "sample_ratio": 0})):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), graph={"enabled": False}, auth={"mode": "development"},
                                limits={"rate_limits": False}, tracing=tracing)
            app = create_app(settings)
            async with TestClient(TestServer(app)) as client:
                for i in range(100):
                    await client.post("/graphql", json={"query": ADD, "variables": {"input": {
                        "messages": [{"role": "user", "content": f"fact number {i} about tea"}],
                        "scope": {"userId": "alice"}, "infer": False}}})
                samples = []
                for i in range(requests + 50):
                    started = time.perf_counter()
                    resp = await client.post("/graphql", json={"query": SEARCH, "variables": {"q": f"tea {i}"}})
                    await resp.read()
                    samples.append(time.perf_counter() - started)
                samples = sorted(samples[50:])
                spans = "yes" if app[RUNTIME_KEY].tracing is not None else "no"
                print(f"  {label:28s} p50 {statistics.median(samples) * 1000:6.2f}  "
                      f"p95 {samples[int(len(samples) * 0.95)] * 1000:6.2f}  (tracer installed: {spans})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    await calls_table(args.calls)
    await requests_table(args.requests)


if __name__ == "__main__":
    asyncio.run(main())
