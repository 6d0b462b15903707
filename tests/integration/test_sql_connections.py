"""history/connections.py: where reads of a SQLite file run, and that each sees the last commit."""
from __future__ import annotations

import asyncio
import sqlite3
import threading

import sqlalchemy as sa

from history.connections import SqlConnections
from history.engine import create_engine


async def test_small_reads_run_on_the_loop_and_others_in_a_reader_thread(sqlite_url: str) -> None:
    sql = SqlConnections(create_engine(sqlite_url))
    try:
        await sql.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (n INTEGER)"))

        def count(conn: sa.Connection) -> tuple[str, int]:
            return threading.current_thread().name, int(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())

        for n in (1, 2):
            await sql.write(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (1)"))
            here, seen_here = await sql.read(count, small=True)
            there, seen_there = await sql.read(count)
            assert here == threading.current_thread().name and there.startswith("sql-read")
            assert seen_here == seen_there == n  # both see the last commit (no read transaction left open)
        # the loop's connection reads a few rows by id: a small page cache of its own is enough
        pages = await sql.read(lambda conn: int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one()), small=True)
        assert pages == -256
    finally:
        sql.close()
        await sql.engine.dispose()


async def test_a_small_read_of_a_busy_file_waits_in_a_reader_thread_not_on_the_loop(sqlite_url: str) -> None:
    path = sa.make_url(sqlite_url).database
    # another process holds the file exclusively (as a crashed writer's recovery would)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    sql = SqlConnections(create_engine(sqlite_url))
    try:
        def count(conn: sa.Connection) -> tuple[str, int]:
            return threading.current_thread().name, int(conn.exec_driver_sql("SELECT count(*) FROM memories").scalar_one())

        loop = asyncio.get_running_loop()
        started = loop.time()
        read = asyncio.create_task(sql.read(count, small=True))
        await asyncio.sleep(0.2)  # the loop keeps turning while the read waits for the lock
        assert not read.done() and loop.time() - started < 1.0
        locker.execute("COMMIT")
        locker.close()
        where, n = await asyncio.wait_for(read, 10)
        assert where.startswith("sql-read") and n == 0
    finally:
        sql.close()
        await sql.engine.dispose()
