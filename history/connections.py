"""Read connections and write transactions on one engine, with SQL errors translated to the
core's errors: the one way the SQL adapters (memories, credentials) talk to the database."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from history.engine import WRITE_INTENT, SqliteThreads, is_sqlite
from history.errors import translate_sql

# Key of the PostgreSQL advisory lock that orders commits (any constant; scoped to the database).
_COMMIT_LOCK = 0x61676D656D  # "agmem"

T = TypeVar("T")


class SqlConnections:
    """`serialise_writes`: writers that the database would serialise anyway (every SQLite write;
    ordered commits on PostgreSQL, behind the advisory lock) queue here first, in FIFO order. On
    SQLite that beats polling the file lock (p99 latency 80-130 ms instead of 630+ ms at 16 in
    flight, bench/history_commits.py); on PostgreSQL it keeps waiting commits from holding pool
    connections that reads need."""

    def __init__(self, engine: AsyncEngine, *, serialise_writes: bool = False) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._writer = engine.execution_options(**{WRITE_INTENT: True})
        self._serialise = serialise_writes
        self._write_lock = asyncio.Lock()
        self._reader: SqliteThreads | None = None  # made on the first read(): most users never read that way
        self._file_writer: SqliteThreads | None = None  # made on the first write()

    async def read(self, work: Callable[[sa.Connection], T]) -> T:
        """`work` (plain synchronous SQLAlchemy on one read connection) run off the event loop.
        On a SQLite file it runs whole in a reader thread: a statement through the async driver
        costs ~0.4 ms of CPU in hand-offs (a SELECT 1 costs 0.03 ms in a thread), and a search
        issues several. Elsewhere it runs through the async connection (`run_sync`)."""
        with translate_sql():
            reader = self._readers()
            if reader is not None:
                return await reader.run(work)
            async with self.engine.connect() as conn:
                return await conn.run_sync(work)

    def rows_here(self, statement: sa.Select[Any], params: Sequence[Any]) -> list[Any] | None:
        """A few rows by key (a search's hits), read on the event loop's own connection through
        the driver itself: on a SQLite file that costs less than the two thread hand-offs of
        `read` (~0.9 ms of waiting for a search's hits at 100k memories) and than SQLAlchemy's
        objects around the statement. Raw driver rows, in `statement`'s column order; its bound
        parameters must be positional, in `params`' order. None where that does not apply
        (PostgreSQL, an in-memory database) or the file is busy: the caller uses `read`."""
        with translate_sql():
            reader = self._readers()
            if reader is None:
                return None
            return reader.rows_here(_sqlite_text(statement), params)

    def _readers(self) -> SqliteThreads | None:
        if self._reader is None and self.sqlite:
            self._reader = SqliteThreads.of(self.engine)
        return self._reader

    async def write(self, work: Callable[[sa.Connection], T], *, ordered: bool = False) -> T:
        """`work` (plain synchronous SQLAlchemy) as one write transaction, committed when it
        returns, as `writing` would. On a SQLite file the whole transaction runs in the writer
        thread at once; elsewhere through the async connection (`run_sync`)."""
        if self._file_writer is None and self.sqlite:
            self._file_writer = SqliteThreads.of(self.engine, writer=True)
        if self._file_writer is None:
            async with self.writing(ordered) as conn:
                return await conn.run_sync(work)
        queue = self._serialise  # every SQLite write is serialised by the file anyway
        with translate_sql():
            async with self._write_lock if queue else nullcontext():
                return await self._file_writer.run(work)

    def close(self) -> None:
        for threads in (self._reader, self._file_writer):
            if threads is not None:
                threads.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        with translate_sql():
            async with self.engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def writing(self, ordered: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction; `ordered` ones also serialise against other ordered commits (so
        the seqs they draw are committed in order)."""
        queue = self._serialise and (self.sqlite or ordered)
        lock: AbstractAsyncContextManager[Any] = self._write_lock if queue else nullcontext()
        with translate_sql():
            async with lock, self._writer.begin() as conn:
                if ordered and not self.sqlite:
                    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_COMMIT_LOCK)))
                yield conn


@lru_cache(maxsize=128)
def _sqlite_text(statement: sa.Select[Any]) -> str:
    # compiled once per statement (the repository keeps one per number of ids)
    return str(statement.compile(dialect=sqlite.dialect()))
