"""history/connections.py: where reads of a SQLite file run, and that each sees the last commit."""
from __future__ import annotations

import asyncio
import sqlite3
import threading

from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from history.connections import SqlConnections
from history.engine import SqliteThreads, create_engine
from history.repository import SqlMemoryRepository
from memory.errors import StoreUnavailable
from memory.models import MemoryRecord, Scope, StoredMemory
from memory.ports import ChangeSet


async def test_rows_by_key_are_read_on_the_loop_and_other_reads_in_a_reader_thread(sqlite_url: str) -> None:
    sql = SqlConnections(create_engine(sqlite_url))
    table = sa.table("t", sa.column("n"))
    try:
        await sql.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (n INTEGER)"))

        def count(conn: sa.Connection) -> tuple[str, int]:
            return threading.current_thread().name, int(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())

        for n in (1, 2):
            await sql.write(lambda conn, n=n: conn.exec_driver_sql(f"INSERT INTO t VALUES ({n})"))
            # positional parameters, in order: what the repository binds for a search's hits
            listed = sa.select(table.c.n).where(table.c.n.in_([sa.bindparam("a"), sa.bindparam("b")]))
            assert sql.rows_here(listed, [2, 1]) == [(i,) for i in range(1, n + 1)]  # sees the last commit
            there, seen_there = await sql.read(count)
            assert there.startswith("sql-read") and seen_there == n
        # the loop's connection reads a few rows by id: a small page cache of its own is enough
        pragma = sa.select(sa.literal_column("cache_size")).select_from(sa.text("pragma_cache_size()"))
        assert sql.rows_here(pragma, []) == [(-256,)]
        # a failure is the store's, as through SQLAlchemy; the loop's connection still answers after it
        with pytest.raises(StoreUnavailable):
            sql.rows_here(sa.select(sa.table("missing", sa.column("n")).c.n), [])
        assert sql.rows_here(listed, [1, 1]) == [(1,)]
    finally:
        sql.close()
        await sql.engine.dispose()


async def test_reads_by_key_of_a_busy_file_wait_in_a_reader_thread_not_on_the_loop(sqlite_url: str) -> None:
    # a search's hits, an add's duplicate check by text hash and a read by id run on the loop's
    # own connection; busy, they wait elsewhere
    path = sa.make_url(sqlite_url).database
    writer = SqlMemoryRepository(create_engine(sqlite_url))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    owner = Scope(user_id="alice", run_id="r1")
    kept = MemoryRecord(id="m1", text="likes tea", hash="h", scope=owner, metadata={}, created_at=now, updated_at=now)
    await writer.commit(ChangeSet(writes=[StoredMemory(record=kept, embedding=np.ones(4, dtype=np.float32))]))

    def no_reader_thread() -> None:
        raise AssertionError("read in a reader thread")

    writer._sql.reading = no_reader_thread  # type: ignore[method-assign,assignment]  # the file is free: on the loop
    assert await writer.find_by_hash(owner, "h") == kept
    assert await writer.find_by_hash(Scope(user_id="alice"), "h") is None
    assert await writer.get("m1") == kept and await writer.get("m2") is None
    await writer.close()
    # another process holds the file exclusively (as a crashed writer's recovery would)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    repository = SqlMemoryRepository(create_engine(sqlite_url))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reads = [asyncio.create_task(read) for read in (
            repository.get_many(["m1"], recent=True), repository.find_by_hash(owner, "h"),
            repository.find_by_hash(Scope(user_id="alice"), "h"), repository.get("m1"))]
        await asyncio.sleep(0.2)  # the loop keeps turning while the reads wait for the lock
        assert not any(read.done() for read in reads) and loop.time() - started < 1.0
        locker.execute("COMMIT")
        locker.close()
        assert await asyncio.wait_for(asyncio.gather(*reads), 10) == [{"m1": kept}, kept, None, kept]
    finally:
        await repository.close()


def test_after_a_busy_read_the_loop_leaves_reads_to_reader_threads_for_a_moment(sqlite_url: str) -> None:
    # a lock held for seconds (a recovery) would otherwise cost the loop its lock wait on every read
    path = sa.make_url(sqlite_url).database
    count = "SELECT count(*) FROM memories"
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    now = [100.0]
    threads = SqliteThreads(path, clock=lambda: now[0])
    try:
        assert threads.rows_here(count, []) is None  # busy
        locker.execute("COMMIT")
        locker.close()
        now[0] += 0.2
        assert threads.rows_here(count, []) is None  # free again, but still left to reader threads
        now[0] += 0.1
        assert threads.rows_here(count, []) == [(0,)]
    finally:
        locker.close()
        threads.close()
