"""Async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg), tuned for the repository."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from memory.errors import InvalidInput

# Execution option marking a connection that will write: on SQLite its transaction starts with
# BEGIN IMMEDIATE, taking the write lock up front. A deferred transaction that reads first and
# writes later can fail at once with "database is locked" (SQLITE_BUSY_SNAPSHOT under WAL)
# without ever waiting on busy_timeout; an immediate one just waits its turn.
WRITE_INTENT = "agentmem_write"

SQLITE_BUSY_TIMEOUT_MS = 30_000

_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",  # durable at checkpoints; WAL keeps the file consistent
    "PRAGMA foreign_keys=ON",
    # deleted and overwritten content is zeroed in the file, so an erased memory's text does not
    # linger in free pages (see MemoryService.delete(purge=True))
    "PRAGMA secure_delete=ON",
)
# Switching a file to WAL fails at once with "database is locked" (the busy handler is not
# consulted) while another connection switches it too; that only happens when several
# connections open a brand-new file together, and one retry was always enough in 900 trials.
_WAL_ATTEMPTS = 20
# the event loop's own read connection (SqliteThreads.rows_here): its page cache, and how long it
# waits for a lock before the read goes to a reader thread
_HERE_CACHE_KIB = 256
_HERE_BUSY_TIMEOUT_MS = 20
# after a read found the file busy, reads go straight to a reader thread for this long: a lock
# held for seconds (a recovery) would otherwise cost the loop the wait above on every read
_HERE_BUSY_BACKOFF_S = 0.25

log = logging.getLogger(__name__)


def async_url(url: str) -> str:
    """Turn `sqlite:///path`, `postgres://...` or `postgresql://...` into the async driver URL.

    URLs that already name aiosqlite or asyncpg pass through unchanged."""
    if url.startswith("postgres://"):  # Heroku-style alias SQLAlchemy does not accept
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInput(f"not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise InvalidInput(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False, pre_ping: bool = False
) -> AsyncEngine:
    """An AsyncEngine for `url` (plain or async form). Opens no connection. `pre_ping` checks a
    pooled PostgreSQL connection before each use (a SQLite file connection cannot go stale)."""
    url = async_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,  # a starved pool surfaces as StoreUnavailable instead of hanging requests
        # No pool_pre_ping by default: it costs a round trip per checkout (measured: 850 -> 550 commits/s).
        # After a server restart the first statement on a dead connection fails (StoreUnavailable)
        # and SQLAlchemy then invalidates every pooled connection, so one request pays, not all.
        pool_recycle=1800,
        pool_pre_ping=pre_ping,
        connect_args={
            "timeout": 10,  # connect timeout
            "command_timeout": 60,
            "server_settings": {"application_name": "agentmem"},
        },
    )


def probe_engine(engine: AsyncEngine) -> AsyncEngine:
    """A one-connection engine on the same database, for health probes.

    A probe that borrowed from the main pool would wait behind real work whenever the pool is
    saturated, and a busy replica would call itself unready exactly when it is busiest: the
    probe asks whether the database answers, not whether a pooled connection is free. An
    in-memory SQLite database exists only on its one connection, so it is probed through it."""
    if is_sqlite(engine) and engine.url.database in (None, "", ":memory:"):
        return engine
    # the probe's connection sits idle between probes: after a database restart it would fail the
    # first probe and report "down" for a database that answers; a pre-ping costs one round trip
    return create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0, pre_ping=True)


def _sqlite_engine(url: str, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    options: dict[str, Any] = {"echo": echo}
    if not database or database == ":memory:":
        # every new connection would see a new empty database; keep the one
        options["poolclass"] = StaticPool
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


T = TypeVar("T")


class SqliteThreads:
    """Work on a SQLite file in threads of its own, with a synchronous engine on the same file as
    the async engine. Readers: WAL lets them run beside the writer, each seeing the last committed
    state when it starts, as an async read connection does. The writer (one thread, one
    connection) runs a whole transaction per call: through the async driver every statement of
    a commit was a hand-off of its own (~0.4 ms of CPU each; a commit has five to eight)."""

    READERS = 2

    def __init__(self, database: str, *, writer: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        threads = 1 if writer else self.READERS
        self._engine = sa.create_engine(
            f"sqlite:///{database}", pool_size=threads, max_overflow=0,
            connect_args={"check_same_thread": False},  # a pooled connection serves whichever of our threads
        )
        event.listen(self._engine, "connect", _sqlite_on_connect)
        event.listen(self._engine, "begin", _sqlite_on_begin)
        self._writer = writer
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="sql-write" if writer else "sql-read")
        self._here: sqlite3.Connection | None = None  # the event loop's own read connection (rows_here)
        self._clock = clock
        self._busy_until = 0.0  # rows_here hands reads to a reader thread until then

    @classmethod
    def of(cls, engine: AsyncEngine, *, writer: bool = False) -> "SqliteThreads | None":
        """Threads for `engine`'s SQLite file; None for PostgreSQL or an in-memory database
        (which exists only on the async engine's one connection)."""
        database = engine.url.database
        if not is_sqlite(engine) or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(database, writer=writer)

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._run, work)

    def rows_here(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """The rows of one SELECT, read on the calling thread (the event loop's) through the
        driver itself, on a connection of its own: for reads that cost less than the two thread
        hand-offs around them (a search's hits, ~12 rows by id: ~0.09 ms for the statement, against
        ~0.24 ms with SQLAlchemy's connection, transaction and result objects around it). None when
        the file is busy for more than a moment (a recovery after a crash, another connection
        switching its journal), and for a quarter of a second after: the caller then reads in a
        reader thread, which may wait for it; the loop does not. Other failures are raised as
        SQLAlchemy would wrap them."""
        assert not self._writer  # nosec B101  # a write transaction never runs on the loop
        if self._busy_until and self._clock() < self._busy_until:
            return None
        try:
            if self._here is None:
                here = sqlite3.connect(self._engine.url.database or "", check_same_thread=False)
                try:
                    _loop_connection(here)  # reads the file too: may meet the lock
                except sqlite3.Error:
                    here.close()
                    raise
                self._here = here
            return self._here.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                self._busy_until = self._clock() + _HERE_BUSY_BACKOFF_S
                return None
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc

    def _run(self, work: Callable[[Connection], T]) -> T:
        if self._writer:  # BEGIN IMMEDIATE (_sqlite_on_begin); committed when `work` returns
            with self._engine.connect() as conn, conn.execution_options(**{WRITE_INTENT: True}).begin():
                return work(conn)
        with self._engine.connect() as conn:
            return work(conn)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()
        if self._here is not None:
            self._here.close()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so _sqlite_on_begin decides the mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _use_wal(cursor)
    finally:
        cursor.close()


def _loop_connection(dbapi_connection: sqlite3.Connection) -> None:
    """The event loop's read connection waits for a lock only briefly (SqliteThreads.rows_here
    hands a busy read to a reader thread) and never switches the journal mode (that may wait
    for a lock too; the other connections set WAL, which the file keeps). It reads a few rows by
    id at a time, each SELECT a transaction of its own: the index's upper pages are what stays
    hot, and the OS caches the file anyway, so SQLite's default page cache (2 MiB) would be RSS
    for little."""
    dbapi_connection.isolation_level = None  # autocommit: one SELECT, one read transaction
    dbapi_connection.execute(f"PRAGMA busy_timeout={_HERE_BUSY_TIMEOUT_MS}")
    dbapi_connection.execute(f"PRAGMA cache_size=-{_HERE_CACHE_KIB}")


def _use_wal(cursor: Any) -> None:
    """WAL: readers never block the writer, nor the writer the readers (persists in the file)."""
    for _ in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            if str(cursor.fetchone()[0]).lower() in ("wal", "memory"):  # in-memory: no journal file
                return
        except sqlite3.OperationalError:
            continue  # another connection is switching the new file right now
    # Still correct without WAL, only slower under concurrency; the next connection tries again.
    log.warning("SQLite database could not be switched to WAL journal mode")


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_INTENT, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
