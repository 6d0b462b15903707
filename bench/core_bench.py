"""The memory core's figures beside the raw limits of its parts, in one run.

    python bench/core_bench.py [--sizes 10000,100000] [--adds 1500] [--queries 300]

Prints: add (infer=False) throughput with 1 and 32 concurrent callers on the local MiniLM
(ONNX runtime, the service default); search p50/p95 through MemoryService.search at each
size; the service process's RSS with the model loaded and the embedded graph server's RSS
(reported separately); and, from child processes (bench/raw_limits.py), sentence-transformers
batch-64 throughput, single-sentence latency and raw hnswlib knn_query latency.

Seeding: the large sizes are written straight to SQL (vectors = real MiniLM embeddings of a
pool of sentences plus small noise) and the service then starts as after a crash with no
index file, so the start-up rebuild of the index from SQL is measured too. Asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.process import pin_threads  # noqa: E402

pin_threads()  # the service's thread pins, before numpy loads

import numpy as np  # noqa: E402

from app.bootstrap import service_context, settle_embedder  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.raw_limits import run_child, sentences  # noqa: E402
from history.engine import create_engine  # noqa: E402
from history.repository import SqlMemoryRepository  # noqa: E402
from memory.models import ChangeEvent, HistoryEntry, MemoryRecord, Message, Scope, StoredMemory, new_id, text_hash, utcnow  # noqa: E402
from memory.ports import ChangeSet  # noqa: E402


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_pids(parent: int | None = None) -> list[int]:
    me = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def graph_rss_mb() -> float:
    return sum(rss_mb(pid) for pid in child_pids() if "java" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore"))


async def add_throughput(settings: Settings, n: int, callers: int) -> float:
    texts = sentences(n)
    async with service_context(settings) as svc:
        await svc.add([Message("user", "warm up the model")], Scope("bench-warm"), infer=False)
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await svc.add([Message("user", texts[i])], Scope(f"user{i % 50}"), infer=False)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(callers)))
        return n / (time.perf_counter() - started)


async def seed(settings: Settings, size: int, have: int) -> None:
    """Write memories have..size straight to SQL in big transactions."""
    from memory.providers.local_embedder import OnnxEmbedder

    engine = create_engine(settings.sql_url())
    # the weights the store was settled on (int8-static for a new one), as the service would embed them
    settled = (await settle_embedder(engine, settings)).embedder
    embedder = OnnxEmbedder(cache_dir=settings.embedder.resolved_cache_dir(), quantized=settled.int8(),
                            static_ranges=settled.fixed_ranges())
    pool_texts = sentences(2000)
    pool = await embedder.embed(pool_texts)
    await embedder.aclose()
    rng = np.random.default_rng(size)
    repo = SqlMemoryRepository(engine)
    now = utcnow()
    for start in range(have, size, 2000):
        change = ChangeSet()
        for i in range(start, min(size, start + 2000)):
            vec = pool[i % 2000] + rng.normal(0, 0.02, pool.shape[1]).astype(np.float32)
            vec /= np.linalg.norm(vec)
            text = f"{pool_texts[i % 2000]} #{i}"
            rec = MemoryRecord(new_id(), text, text_hash(text), Scope(f"user{i % 50}"), {"i": i}, now, now)
            change.writes.append(StoredMemory(rec, vec.astype(np.float32)))
            change.history.append(HistoryEntry(rec.id, ChangeEvent.ADD, None, text, rec.scope, now))
        await repo.commit(change)
    await repo.close()


async def search_figures(settings: Settings, size: int, queries: int) -> dict[str, float]:
    index_dir = settings.data_dir / "index"
    for f in index_dir.glob("*"):
        f.unlink()  # start as if the index file were lost: rebuild from SQL
    started = time.perf_counter()
    async with service_context(settings) as svc:
        start_s = time.perf_counter() - started
        qs = [t.split(" (")[0] for t in sentences(queries)]
        for q in qs[:20]:
            await svc.search(q, Scope("user7"), limit=10)
        lat = []
        for q in qs:
            t0 = time.perf_counter()
            await svc.search(q, Scope(f"user{len(lat) % 50}"), limit=10)
            lat.append((time.perf_counter() - t0) * 1000)
        return {"size": size, "start_s": start_s, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
                "rss_mb": rss_mb(), "graph_rss_mb": graph_rss_mb()}


def server_figures(data_dir: str, queries: int) -> dict:
    """Start the real server (`python -m app serve`) on the seeded data and read its RSS after
    GraphQL searches: the service process as deployed, web stack included."""
    import json
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "AGENTMEM_DATA_DIR": data_dir, "AGENTMEM_AUTH__MODE": "development",
           "AGENTMEM_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1)  # 503 while starting
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.5)
        lat = []
        for i, q in enumerate(t.split(" (")[0] for t in sentences(queries)):
            body = json.dumps({"query": "query($q: String!, $u: String!) { search(query: $q, scope: {userId: $u}, "
                               "limit: 10) { hits { score memory { id text } } } }",
                               "variables": {"q": q, "u": f"user{i % 50}"}}).encode()
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            t0 = time.perf_counter()
            urllib.request.urlopen(req, timeout=30).read()
            lat.append((time.perf_counter() - t0) * 1000)
        return {"rss_mb": rss_mb(proc.pid), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)}
    finally:
        proc.terminate()
        proc.wait(30)


def phase(argv: list[str]) -> dict:
    """Run one phase in a fresh interpreter so its RSS is its own."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--phase", *argv], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"phase {argv} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run_phase(args: argparse.Namespace) -> dict:
    settings = Settings(data_dir=Path(args.data_dir))
    if args.phase == "add":
        return {"per_s": await add_throughput(settings, args.n, args.callers), "rss_mb": rss_mb()}
    if args.phase == "seed":
        async with service_context(settings):
            pass  # migrations
        await seed(settings, args.n, args.have)
        return {}
    return await search_figures(settings, args.n, args.queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--adds", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--phase", choices=["add", "seed", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--have", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--callers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        import json

        print(json.dumps(asyncio.run(run_phase(args))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        one = phase(["add", "--data-dir", f"{tmp}/a1", "--n", str(max(200, args.adds // 4)), "--callers", "1"])
        many = phase(["add", "--data-dir", f"{tmp}/a32", "--n", str(args.adds), "--callers", "32"])
        rows, have = [], 0
        for size in sizes:
            phase(["seed", "--data-dir", f"{tmp}/s", "--n", str(size), "--have", str(have)])
            have = size
            rows.append(phase(["search", "--data-dir", f"{tmp}/s", "--n", str(size), "--queries", str(args.queries)]))
            rows[-1]["server"] = server_figures(f"{tmp}/s", min(args.queries, 200))
    st = run_child("st", [])
    hnsw = {size: run_child("hnsw", ["--size", str(size)]) for size in sizes}
    batch64 = st.get("batch64_per_s", float("nan"))
    single = st.get("single_p50_ms", float("nan"))
    print("\n== AgentMem core vs raw limits (this machine) ==")
    print(f"add infer=False, 1 caller          {one['per_s']:10.1f} adds/s")
    print(f"add infer=False, 32 callers        {many['per_s']:10.1f} adds/s")
    print(f"raw sentence-transformers batch-64 {batch64:10.1f} sentences/s")
    print(f"  -> 32-caller adds / raw batch-64 {100 * many['per_s'] / batch64:9.1f} %  (target >= 60 %)")
    print(f"raw single-sentence encode p50     {single:10.2f} ms")
    for row in rows:
        raw = hnsw[row["size"]]
        knn95 = raw.get("knn_p95_ms", float("nan"))
        print(f"\n-- {row['size']:,} memories --")
        print(f"start-up incl. index rebuild from SQL {row['start_s']:8.1f} s")
        print(f"search p50 / p95                      {row['p50_ms']:8.2f} / {row['p95_ms']:.2f} ms")
        print(f"raw hnswlib knn_query p50 / p95       {raw.get('knn_p50_ms', float('nan')):8.3f} / {knn95:.3f} ms")
        print(f"  -> budget (single encode + knn p95 + 5 ms) {single + knn95 + 5:8.2f} ms")
        srv = row["server"]
        print(f"search over HTTP+GraphQL p50 / p95    {srv['p50_ms']:8.2f} / {srv['p95_ms']:.2f} ms  (real server)")
        print(f"core-only process RSS (model loaded)  {row['rss_mb']:8.1f} MiB")
        print(f"service process RSS (python -m app serve) {srv['rss_mb']:6.1f} MiB  (target <= 512)")
        print(f"embedded graph server RSS             {row['graph_rss_mb']:8.1f} MiB  (separate process)")
    print(f"\nraw figures: st={st}\n hnsw={hnsw}")


if __name__ == "__main__":
    main()
