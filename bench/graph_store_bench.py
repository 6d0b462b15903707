"""Embedded ArcadeDB + Neo4jGraphStore figures (prints, asserts nothing).

    python bench/graph_store_bench.py [--triples 5000] [--batch 100,500] [--runs 3]

Prints: server start-up (process launch to first answered query) and stop times; apply()
throughput for N new triples sent in GraphWork batches of several sizes (one work = 5 triples,
as an extraction of one memory might produce; 8 relation types, so ~8 statements a batch),
after one warm-up pass; the same again (idempotent re-apply); and read latencies
(relations_for, neighbourhood depth 2, a relations page) on the resulting graph.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.embedded import EmbeddedArcadeDB  # noqa: E402
from graph.store import Neo4jGraphStore  # noqa: E402
from memory.models import GraphQuery, GraphWork, Scope, Triple, new_id  # noqa: E402

RELATIONS = ["knows", "works at", "likes", "lives in", "owns", "visited", "uses", "manages"]


def make_works(triples: int, per_work: int, entities: int, seed: int) -> list[GraphWork]:
    rng = random.Random(seed)
    scope = Scope(user_id="bench", agent_id="a1")
    works = []
    for i in range(0, triples, per_work):
        rows = tuple(
            Triple(
                f"entity {rng.randrange(entities)}",
                rng.choice(RELATIONS),
                f"entity {rng.randrange(entities)}",
            )
            for _ in range(min(per_work, triples - i))
        )
        works.append(GraphWork(new_id(), scope, rows, f"m{i}", datetime.now(UTC)))
    return works


async def timed_apply(store: Neo4jGraphStore, works: list[GraphWork], batch_works: int) -> tuple[float, int]:
    started = time.perf_counter()
    added = 0
    for i in range(0, len(works), batch_works):
        results = await store.apply(works[i : i + batch_works])
        added += sum(len(r.added) for r in results.values())
    return time.perf_counter() - started, added


async def p50_ms(call: Callable[[], Awaitable[object]], n: int = 50) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        starts = []
        for run in range(args.runs):
            server = EmbeddedArcadeDB(data_dir=Path(tmp) / f"start{run}")
            started = time.perf_counter()
            await server.start()
            starts.append(time.perf_counter() - started)
            started = time.perf_counter()
            await server.stop()
            print(f"start {starts[-1]:.2f}s  stop {time.perf_counter() - started:.2f}s")
        print(f"server start-up median over {args.runs}: {statistics.median(starts):.2f}s")

        async with EmbeddedArcadeDB(data_dir=Path(tmp) / "bench") as server:
            store = Neo4jGraphStore(server.uri, server.auth, server.database)
            await store.setup()
            # the JVM's JIT needs a few thousand rows before the figures settle
            await timed_apply(store, make_works(args.triples, 5, args.triples // 2, seed=-1), 100)
            for triples_per_batch in args.batch:
                await store.reset()
                works = make_works(args.triples, 5, args.triples // 2, seed=triples_per_batch)
                batch_works = max(1, triples_per_batch // 5)
                seconds, added = await timed_apply(store, works, batch_works)
                again, re_added = await timed_apply(store, works, batch_works)
                print(
                    f"apply {args.triples} triples in batches of {triples_per_batch}: {seconds:.2f}s"
                    f" = {args.triples / seconds:,.0f} triples/s ({added} new relations);"
                    f" re-apply {again:.2f}s = {args.triples / again:,.0f}/s ({re_added} new)"
                )
            entities, relations = await store.counts()
            print(f"graph: {entities} entities, {relations} valid relations")
            scope = Scope(user_id="bench")
            name = "entity 1"
            print(
                f"relations_for 1 name p50: {await p50_ms(lambda: store.relations_for(scope, [name])):.2f} ms"
            )
            print(
                f"neighbourhood depth 2 p50: {await p50_ms(lambda: store.neighbourhood(scope, name, 2)):.2f} ms"
            )
            page_ms = await p50_ms(lambda: store.relations(scope, GraphQuery(), 50, None), 10)
            print(f"relations page of 50 p50: {page_ms:.2f} ms")
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--triples", type=int, default=5000)
    parser.add_argument("--batch", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 1000])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
