"""Soak and fault suite (on demand; prints figures, asserts nothing).

Starts the real server (`python -m app serve`) on loopback with several tenants' API keys, a
private Redis, a graph server over Bolt and, with --postgres, a private PostgreSQL cluster;
runs a mixed load (adds, searches, lists, one live subscription per tenant) for --minutes,
printing p50/p95 per operation and the server's RSS every minute. Then, still under load, the
faults asked for: the graph server killed and restarted (adds must keep succeeding and the
outbox drain), Redis killed and restarted (fan-out and limits resume), PostgreSQL stopped and
started (clients get 503 with Retry-After meanwhile). Finally every acknowledged add is looked
up: nothing acknowledged may be missing.

    python -m bench.soak --minutes 10 --tenants 4 --faults graph,redis,postgres --postgres
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
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.soak_infra import Graph, PrivatePostgres, PrivateRedis, Server  # noqa: E402

ADD = ('mutation($t: String!, $u: String!) { addMemories(input: {messages: [{role: "user", content: $t}], '
       'scope: {userId: $u}}) { changes { id event } graphPending } }')
SEARCH = 'query($q: String!, $u: String!) { search(query: $q, scope: {userId: $u}, limit: 5) { hits { score } } }'
LIST = 'query($u: String!) { memories(scope: {userId: $u}, first: 20) { nodes { id } } }'
GET = 'query($id: ID!) { memory(id: $id) { id } }'
WORDS = "tea coffee paris berlin acme globex guitar piano kayak tennis sushi pizza rust python jazz chess".split()


class Recorder:
    def __init__(self) -> None:
        self.window: dict[str, list[float]] = defaultdict(list)
        self.outcomes: Counter[str] = Counter()
        self.window_outcomes: Counter[str] = Counter()
        self.acknowledged: dict[str, str] = {}  # memory id -> tenant

    def record(self, op: str, seconds: float, outcome: str) -> None:
        self.window[op].append(seconds * 1000)
        self.outcomes[f"{op}:{outcome}"] += 1
        self.window_outcomes[f"{op}:{outcome}"] += 1

    def flush(self) -> tuple[dict[str, list[float]], Counter[str]]:
        window, outcomes = self.window, self.window_outcomes
        self.window, self.window_outcomes = defaultdict(list), Counter()
        return window, outcomes


async def call(http: aiohttp.ClientSession, base: str, key: str, query: str, **variables: object) -> tuple[str, dict]:
    try:
        async with http.post(base + "/graphql", json={"query": query, "variables": variables},
                             headers={"Authorization": f"Bearer {key}"}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                retry = "+retry-after" if "Retry-After" in resp.headers else ""
                return f"http{resp.status}{retry}", body or {}
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return type(exc).__name__, {}
    if body.get("errors"):
        return str(body["errors"][0].get("extensions", {}).get("code", "error")), body
    return "ok", body


async def tenant_worker(http: aiohttp.ClientSession, base: str, tenant: str, key: str, rec: Recorder,
                        stop: asyncio.Event, rng: random.Random) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        roll = rng.random()
        started = time.perf_counter()
        if roll < 0.3:
            # a statement the offline extractor turns into a relation: graph work for every add
            text = f"I like {rng.choice(WORDS)} number {n}. {tenant} wrote this at {rng.random():.6f}."
            outcome, body = await call(http, base, key, ADD, t=text, u=tenant)
            op = "add"
            if outcome == "ok":
                for change in body["data"]["addMemories"]["changes"]:
                    rec.acknowledged[change["id"]] = key
        elif roll < 0.75:
            outcome, _ = await call(http, base, key, SEARCH, q=f"{rng.choice(WORDS)} {rng.choice(WORDS)}", u=tenant)
            op = "search"
        else:
            outcome, _ = await call(http, base, key, LIST, u=tenant)
            op = "list"
        rec.record(op, time.perf_counter() - started, outcome)
        if outcome == "RATE_LIMITED" or outcome.startswith("http429"):
            await asyncio.sleep(0.2)


async def subscriber(base: str, tenant: str, key: str, seen: Counter[str], stop: asyncio.Event) -> None:
    """One live subscription per tenant, re-opened when the server drops it."""
    ws_url = base.replace("http", "ws") + "/graphql"
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            try:
                async with http.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
                    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
                    await ws.receive_json(timeout=10)
                    await ws.send_json({"id": "1", "type": "subscribe", "payload": {
                        "query": "subscription { memoryEvents { kind } }"}})
                    async for message in ws:
                        if stop.is_set():
                            return
                        if json.loads(message.data).get("type") == "next":
                            seen[tenant] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, TypeError, ValueError):
                await asyncio.sleep(1)


def report(minute: int, window: dict[str, list[float]], outcomes: Counter[str], rss: float, events: int) -> None:
    parts = []
    for op in ("add", "search", "list"):
        times = window.get(op, [])
        if len(times) >= 2:
            p95 = statistics.quantiles(times, n=20)[18]
            parts.append(f"{op} n={len(times)} p50={statistics.median(times):.0f}ms p95={p95:.0f}ms")
    odd = {k: v for k, v in outcomes.items() if not k.endswith(":ok")}
    print(f"[{minute:>3} min] rss={rss:.0f}MiB events={events} " + "  ".join(parts) + (f"  errors={dict(odd)}" if odd else ""),
          flush=True)


async def outbox(http: aiohttp.ClientSession, base: str) -> float:
    async with http.get(base + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("agentmem_graph_outbox_backlog "):
                return float(line.split()[1])
    return float("nan")


async def minutes_of_load(minutes: float, server: Server, rec: Recorder, seen: Counter[str], label: str) -> None:
    start = time.monotonic()
    minute = 0
    while time.monotonic() - start < minutes * 60:
        await asyncio.sleep(min(60, minutes * 60 - (time.monotonic() - start)))
        minute += 1
        window, outcomes = rec.flush()
        print(f"{label}", end=" ")
        report(minute, window, outcomes, server.rss_mib(), sum(seen.values()))


async def fault_graph(http: aiohttp.ClientSession, server: Server, graph: Graph, rec: Recorder) -> None:
    print("--- fault: graph server killed (SIGKILL)", flush=True)
    before = rec.outcomes.copy()
    graph.kill()
    await asyncio.sleep(30)
    during = {k: v - before.get(k, 0) for k, v in rec.outcomes.items() if k.startswith("add:")}
    print(f"    adds during the outage (30 s): {during}; outbox backlog {await outbox(http, server.base):.0f}")
    started = time.monotonic()
    await graph.start()
    print(f"    graph back after {time.monotonic() - started:.1f} s", flush=True)
    while (backlog := await outbox(http, server.base)) > 0 and time.monotonic() - started < 300:
        await asyncio.sleep(1)
    print(f"    outbox drained to {backlog:.0f} {time.monotonic() - started:.1f} s after the restart", flush=True)


async def fault_redis(redis: PrivateRedis, rec: Recorder, seen: Counter[str]) -> None:
    print("--- fault: Redis killed (SIGKILL), restarted after 10 s", flush=True)
    redis.kill()
    await asyncio.sleep(10)
    redis.start()
    events, outcomes = sum(seen.values()), rec.outcomes.copy()
    await asyncio.sleep(20)
    delivered = sum(seen.values()) - events
    limited = sum(v - outcomes.get(k, 0) for k, v in rec.outcomes.items() if "RATE_LIMITED" in k or "429" in k)
    print(f"    20 s after the restart: {delivered} events delivered, {limited} requests rate limited", flush=True)


async def fault_postgres(pg: PrivatePostgres, rec: Recorder) -> None:
    print("--- fault: PostgreSQL stopped (immediate), started after 15 s", flush=True)
    before = rec.outcomes.copy()
    pg.stop("immediate")
    await asyncio.sleep(15)
    pg.start()
    await asyncio.sleep(10)
    changed = {k: v - before.get(k, 0) for k, v in rec.outcomes.items() if not k.endswith(":ok")}
    print(f"    non-ok outcomes over the outage and 10 s after: {changed}", flush=True)


async def verify(http: aiohttp.ClientSession, base: str, rec: Recorder) -> None:
    missing = 0
    failed: Counter[str] = Counter()
    for id, key in list(rec.acknowledged.items()):
        while True:
            outcome, body = await call(http, base, key, GET, id=id)
            if outcome != "RATE_LIMITED" and not outcome.startswith("http429"):
                break
            await asyncio.sleep(0.5)  # the look-up itself is rate limited like any client
        if outcome != "ok":
            failed[outcome] += 1
        elif body["data"]["memory"] is None:
            missing += 1
    print(f"acknowledged adds: {len(rec.acknowledged)}; missing afterwards: {missing}"
          f"{f'; look-ups that failed: {dict(failed)}' if failed else ''}", flush=True)


async def main(args: argparse.Namespace) -> None:
    faults = {f for f in args.faults.split(",") if f}
    work = Path(tempfile.mkdtemp(prefix="agentmem-soak-"))
    work.chmod(0o711)  # the private PostgreSQL runs as the postgres user and must reach its directory
    graph = Graph(work / "graph")
    await graph.start()
    env = {"AGENTMEM_DATA_DIR": str(work / "data"), "AGENTMEM_GRAPH__URI": graph.server.uri,
           "AGENTMEM_GRAPH__USER": "root", "AGENTMEM_GRAPH__PASSWORD": graph.server.password,
           "AGENTMEM_GRAPH__DATABASE": graph.server.database, "AGENTMEM_METRICS__CACHE_S": "0",
           "AGENTMEM_AUTO_MIGRATE": "true"}
    redis = pg = None
    if PrivateRedis.available():
        redis = PrivateRedis(work / "redis")
        redis.start()
        env["AGENTMEM_REDIS_URL"] = redis.url
    elif "redis" in faults:
        print("redis-server not found: no Redis fault")
    if args.postgres:
        if PrivatePostgres.available():
            pg = PrivatePostgres(work / "pg")
            pg.init()
            pg.start()
            env["AGENTMEM_DATABASE_URL"] = pg.url
        else:
            print("initdb/pg_ctl not found: SQLite instead, no PostgreSQL fault")
    server = Server(env, work / "server.log")
    tenants = [f"tenant{i}" for i in range(args.tenants)]
    keys = {t: server.cli("create-api-key", "--role", "user", "--name", "soak", "--user-id", t) for t in tenants}
    await server.start()
    print(f"server up (pid {server.process.pid}, rss {server.rss_mib():.0f} MiB); data under {work}", flush=True)
    rec, seen, stop = Recorder(), Counter(), asyncio.Event()
    rng = random.Random(7)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tasks = [asyncio.create_task(tenant_worker(http, server.base, t, keys[t], rec, stop, random.Random(rng.random())))
                 for t in tenants for _ in range(args.workers)]
        tasks += [asyncio.create_task(subscriber(server.base, t, keys[t], seen, stop)) for t in tenants]
        try:
            await minutes_of_load(args.minutes, server, rec, seen, "load")
            if "graph" in faults:
                await fault_graph(http, server, graph, rec)
            if "redis" in faults and redis is not None:
                await fault_redis(redis, rec, seen)
            if "postgres" in faults and pg is not None:
                await fault_postgres(pg, rec)
            if faults:
                await minutes_of_load(1, server, rec, seen, "after faults")
        finally:
            stop.set()
            await asyncio.wait(tasks, timeout=30)
        await verify(http, server.base, rec)
    print(f"all outcomes: {dict(rec.outcomes)}")
    server.stop()
    await graph.server.stop()
    if redis is not None:
        redis.kill()
    if pg is not None:
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the steady load (the faults add ~2 min)")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="concurrent request loops per tenant")
    parser.add_argument("--faults", default="graph,redis,postgres", help="comma list of graph, redis, postgres; '' for none")
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster instead of SQLite")
    asyncio.run(main(parser.parse_args()))
