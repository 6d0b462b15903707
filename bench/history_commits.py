"""Commit throughput of SqlMemoryRepository for single-memory change sets (prints figures).

    python -m bench.history_commits [--pg postgresql://postgres@127.0.0.1:5432/test] [-n 2000]

Creates a scratch SQLite file and, with --pg, a scratch database on that server (dropped after).
Each change set is what one `add` writes: one memory row (384-d embedding), one ADD history
entry, one outbox row. "serial" awaits each commit; "concurrent" keeps 16 in flight.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import numpy as np
from sqlalchemy.engine import make_url

from history import migrate
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.models import ChangeEvent, GraphWork, HistoryEntry, MemoryRecord, Scope, StoredMemory, Triple, text_hash
from memory.ports import ChangeSet

SCOPE = Scope(user_id="bench")


def change_set(i: int) -> ChangeSet:
    now = datetime.now(UTC)
    text = f"memory number {i}"
    rec = MemoryRecord(id=str(uuid.uuid4()), text=text, hash=text_hash(text), scope=SCOPE, metadata={"i": i},
                       created_at=now, updated_at=now)
    return ChangeSet(
        writes=[StoredMemory(rec, np.random.default_rng(i).standard_normal(384).astype(np.float32))],
        history=[HistoryEntry(rec.id, ChangeEvent.ADD, None, text, SCOPE, now)],
        graph_work=[GraphWork(str(uuid.uuid4()), SCOPE, (Triple("bench", "wrote", f"n{i}"),), rec.id, now)],
    )


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


async def run(repo: SqlMemoryRepository, n: int, concurrency: int) -> tuple[float, float, float]:
    """(commits/s, p50 ms, p99 ms) for n commits with `concurrency` in flight."""
    sets = [change_set(i) for i in range(n)]
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(change: ChangeSet) -> None:
        async with gate:
            began = time.perf_counter()
            await repo.commit(change)
            latencies.append(time.perf_counter() - began)

    start = time.perf_counter()
    await asyncio.gather(*(one(c) for c in sets))
    rate = n / (time.perf_counter() - start)
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return rate, float(p50), float(p99)


async def measure(label: str, url: str, n: int) -> None:
    await migrate.upgrade(url)
    for lock in (True, False):
        repo = SqlMemoryRepository(create_engine(url))
        if not lock:  # measuring the alternative design: the database's own lock only
            repo._write_lock = _NoLock()  # type: ignore[assignment]  # noqa: SLF001
        await run(repo, 50, 4)  # warm the pool
        serial, _, _ = await run(repo, n, 1)
        concurrent, p50, p99 = await run(repo, n, 16)
        await repo.close()
        variant = " asyncio.Lock" if lock else " db lock only"
        print(
            f"{label}{variant:14} serial {serial:5.0f} commits/s | 16 in flight {concurrent:5.0f} commits/s,"
            f" p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=None)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await measure("sqlite ", f"sqlite:///{tmp}/bench.db", args.n)
    if args.pg:
        admin_url = make_url(args.pg)
        name = f"agentmem_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(host=admin_url.host, port=admin_url.port or 5432, user=admin_url.username,
                                      password=admin_url.password, database=admin_url.database)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await measure("postgres", admin_url.set(database=name).render_as_string(hide_password=False), args.n)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
