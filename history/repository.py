"""SqlMemoryRepository: the SQL source of truth (memories, history, graph outbox)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from history import codec
from history.connections import SqlConnections
from history.engine import is_sqlite, probe_engine
from history.errors import translate_sql
from history.group_commit import GroupCommitter
from history.record_cache import RecordCache
from history.lexical import FTS_TABLE, search_statement
from history.tables import graph_outbox, memories, memory_feedback, memory_history, memory_mentions
from history.webhook_tables import webhook_deliveries
from history.webhooks import delivery_values
from memory.mentions import mentioned
from memory.models import (
    ChangeEvent,
    Feedback,
    FeedbackRating,
    GraphWork,
    HistoryEntry,
    MemoryId,
    MemoryRecord,
    Scope,
    Vector,
    utcnow,
)
from memory.ports import CatalogRow, ChangeSet, Order, PageCursor, TextRow

# Keeps IN lists far below SQLite's and asyncpg's bound-parameter limits (32766 / 32767).
_CHUNK = 500
_SMALL_READ = 32  # rows by id read on the event loop's thread (history/connections.py: `rows_here`)
_MAX_ERROR_CHARS = 4000

_DESCENDING = {Order.CREATED_DESC, Order.UPDATED_DESC}
# built once: every search reads its hits' rows with it (building the statement per read cost
# about a fifth of the read)
_INSERT_HISTORY = sa.insert(memory_history).returning(memory_history.c.seq, sort_by_parameter_order=True)
_BY_IDS = sa.select(*codec.RECORD_COLUMNS).where(memories.c.id.in_(sa.bindparam("ids", expanding=True)))
_BY_IDS_WITH_EMBEDDING = (sa.select(*codec.RECORD_COLUMNS, memories.c.embedding)
                          .where(memories.c.id.in_(sa.bindparam("ids", expanding=True))))


def _read_by_ids(
    ids: list[MemoryId], embeddings: bool, conn: sa.Connection
) -> tuple[list[MemoryRecord], dict[MemoryId, Vector]]:
    statement = _BY_IDS_WITH_EMBEDDING if embeddings else _BY_IDS
    records, vectors = [], {}
    for chunk in _chunks(ids):
        for row in conn.execute(statement, {"ids": chunk}):
            records.append(codec.record_from_row(row[: len(codec.RECORD_COLUMNS)]))
            if embeddings:
                vectors[records[-1].id] = codec.decode_vector(row[-1])
    return records, vectors


@lru_cache(maxsize=2 * _SMALL_READ)
def _by_listed_ids(count: int, embeddings: bool) -> sa.Select[Any]:
    """Rows of `count` ids, bound one positional parameter each (SqlConnections.rows_here), named
    p0, p1... in order."""
    columns = (*codec.RECORD_COLUMNS, memories.c.embedding) if embeddings else codec.RECORD_COLUMNS
    return sa.select(*columns).where(memories.c.id.in_([sa.bindparam(f"p{i}", type_=memories.c.id.type)
                                                        for i in range(count)]))


@lru_cache(maxsize=8)
def _by_hash(owned: tuple[bool, bool, bool]) -> sa.Select[Any]:
    """The oldest valid row of one text hash and exactly these owners: `owned` says which of user,
    agent and run are set (the others must be NULL). Bound one positional parameter each
    (SqlConnections.rows_here), named p0 (the hash), p1... (the owners set, in order). The limit
    is literal, not bound: a text can repeat thousands of times for one owner (adds without
    inference skip this check), and reading every repeat took ~74 ms on the loop at 20,000."""
    columns = (memories.c.user_id, memories.c.agent_id, memories.c.run_id)
    named = iter(range(1, 4))
    # `IS NULL` / `=` rather than IS NOT DISTINCT FROM, which PostgreSQL cannot serve from an index
    owners = [column == sa.bindparam(f"p{next(named)}") if set_ else column.is_(None)
              for column, set_ in zip(columns, owned)]
    return (sa.select(*codec.RECORD_COLUMNS)
            .where(memories.c.hash == sa.bindparam("p0"), memories.c.invalidated_at.is_(None), *owners)
            # the owners too, though each holds one value here: PostgreSQL does not count `IS NULL`
            # as one, and without them it sorted the repeats, or walked the created_at index
            .order_by(*columns, memories.c.created_at, memories.c.id)
            .limit(sa.literal_column("1")).offset(sa.literal_column("0")))


@dataclass(frozen=True, slots=True)
class _Encoded:
    """One ChangeSet as table rows, encoded before any lock is taken (CPU work, may reject)."""

    memories: list[dict[str, Any]]
    mentions: list[dict[str, Any]]  # the mention index rows of the written memories
    rewritten: list[str]  # written memories that may have mention rows already (all but those just added)
    history: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]  # webhook deliveries of the change's events
    deletes: list[str]
    erased: list[str]
    erased_scope: Scope | None

    @classmethod
    def of(cls, change: ChangeSet) -> _Encoded:
        rows = list({w.record.id: codec.memory_values(w, 0) for w in change.writes}.values())
        named = [{"memory_id": row["id"], "entity": key, "user_id": row["user_id"]}
                 for row in rows for key in mentioned(row["text"])]
        added = {h.memory_id for h in change.history if h.event is ChangeEvent.ADD}
        rewritten = [row["id"] for row in rows if row["id"] not in added]
        return cls(rows, named, rewritten, [codec.history_values(h) for h in change.history],
                   [codec.outbox_values(w) for w in change.graph_work],
                   [delivery_values(d) for d in change.deliveries], list(change.deletes),
                   list(change.erased), change.erased_scope)

    @property
    def erases(self) -> bool:
        return bool(self.erased) or self.erased_scope is not None

    def ids(self) -> set[str]:
        return {row["id"] for row in self.memories} | set(self.deletes)
_BY_CREATED = {Order.CREATED_ASC, Order.CREATED_DESC}


class SqlMemoryRepository:
    """Implements memory.ports.MemoryRepository on SQLite (aiosqlite) or PostgreSQL (asyncpg).

    Seqs are handed out in commit order: on PostgreSQL each commit holds a transaction-scoped
    advisory lock while it draws seqs, on SQLite the write lock does the same. A reader that
    replays `embeddings_since(n)` therefore never sees seq n+2 committed before n+1."""

    def __init__(self, engine: AsyncEngine, record_cache: int = 10_000) -> None:
        """`record_cache`: how many recently read rows `get_many` keeps (0: none)."""
        self._sql = SqlConnections(engine, serialise_writes=True)
        self._engine = engine
        self._sqlite = self._sql.sqlite
        self._cache = RecordCache(record_cache)
        self._driver_rows = codec.DriverRows(engine.sync_engine.dialect)
        dialect_insert = sqlite.insert if self._sqlite else postgresql.insert
        upsert = dialect_insert(memories)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[memories.c.id],
            set_={c.key: upsert.excluded[c.key] for c in memories.c if c.key != "id"},
        )
        self._group = GroupCommitter(self._commit_group)
        self._probe = probe_engine(engine)

    # -- writes ------------------------------------------------------------------------------

    async def commit(self, change: ChangeSet) -> int:
        """Concurrent commits share one transaction (history/group_commit.py); each returns its
        own last seq, and its history seqs are contiguous, as if it had committed alone."""
        encoded = _Encoded.of(change)
        if not encoded.erases:
            return await self._group.submit(encoded)
        # an erase commits alone (the same write lock orders it with the groups), then the WAL
        # is checkpointed so that the erased text leaves the database files at once; in a task
        # of its own, like a group, so a caller giving up cannot cut it short
        [seq] = await asyncio.shield(asyncio.ensure_future(self._commit_group([encoded])))
        if is_sqlite(self._engine):
            await self._compact_lexical()
            await self._checkpoint()
        return seq

    async def _commit_group(self, changes: Sequence[_Encoded]) -> list[int]:
        """One transaction for `changes`; the record cache forgets their rows here, in the task that
        commits, once the transaction has ended either way (a caller may have given up waiting,
        and a search reading meanwhile must not keep the row as it was before the commit)."""
        try:
            return await self._sql.write(lambda conn: self._commit_rows(conn, changes), ordered=True)
        finally:
            if any(c.erases for c in changes):
                self._cache.clear()  # an erased scope's rows are not all named in the change
            else:
                self._cache.forget([id for c in changes for id in c.ids()])

    def _commit_rows(self, conn: sa.Connection, changes: Sequence[_Encoded]) -> list[int]:
        """The group's statements, all in one call (SqlConnections.write: on SQLite one hand-off
        to the writer thread for the whole transaction instead of one per statement)."""
        for c in changes:
            if c.erases:  # before the change's own audit lines (erases commit alone)
                self._erase(conn, c.erased, c.erased_scope)
        # a change without history keeps the seq reached before it, as a lone commit would
        last = self._max_seq(conn) if not all(c.history for c in changes) else 0
        history = [row for c in changes for row in c.history]
        seqs: list[int] = []
        if history:
            seqs = [int(s) for s in conn.execute(_INSERT_HISTORY, history).scalars().all()]
        results: list[int] = []
        at = 0
        for c in changes:
            at += len(c.history)
            if c.history:
                last = seqs[at - 1]
            results.append(last)
            for row in c.memories:
                row["seq"] = last
        if _disjoint(changes):  # the usual case: one statement of each kind for the whole group
            self._write_rows(conn, [r for c in changes for r in c.memories], [d for c in changes for d in c.deletes],
                             [m for c in changes for m in c.mentions], [i for c in changes for i in c.rewritten])
        else:  # the same memory twice: apply in order, as separate commits would have
            for c in changes:
                self._write_rows(conn, c.memories, c.deletes, c.mentions, c.rewritten)
        outbox = [row for c in changes for row in c.outbox]
        if outbox:
            conn.execute(sa.insert(graph_outbox), outbox)
        deliveries = [row for c in changes for row in c.deliveries]
        if deliveries:  # after any erase above: an erase's own DELETE event stays
            conn.execute(sa.insert(webhook_deliveries), deliveries)
        return results

    def _write_rows(
        self, conn: sa.Connection, rows: list[dict[str, Any]], deletes: list[str], mentions: list[dict[str, Any]],
        rewritten: list[str],
    ) -> None:
        if rows:
            conn.execute(self._upsert, rows)
        for chunk in _chunks(deletes):
            conn.execute(sa.delete(memories).where(memories.c.id.in_(chunk)))
            conn.execute(sa.delete(memory_feedback).where(memory_feedback.c.memory_id.in_(chunk)))
        # the mention index follows the rows it was derived from, in the same transaction; a
        # memory just added has none yet (skipping that DELETE is most of an add's index cost)
        for chunk in _chunks(rewritten + deletes):
            conn.execute(sa.delete(memory_mentions).where(memory_mentions.c.memory_id.in_(chunk)))
        if mentions:
            conn.execute(sa.insert(memory_mentions), mentions)

    @staticmethod
    def _erase(conn: sa.Connection, ids: Sequence[MemoryId], scope: Scope | None) -> None:
        """History keeps its lines (who, when, what kind of change) without their text."""
        blank = {"old_text": None, "new_text": None, "reason": None}
        for chunk in _chunks(ids):
            conn.execute(memory_history.update().where(memory_history.c.memory_id.in_(chunk)).values(**blank))
        if scope is not None:
            owned = [memory_history.c[f] == v for f, v in _scope_fields(scope)]
            conn.execute(memory_history.update().where(*owned).values(**blank))
        wanted = set(ids)
        pending = conn.execute(sa.select(graph_outbox.c.id, graph_outbox.c.payload)).all()
        doomed = [row.id for row in pending
                  if (row.payload or {}).get("memory_id") in wanted or _in_scope(scope, (row.payload or {}).get("scope"))]
        for chunk in _chunks(doomed):
            conn.execute(sa.delete(graph_outbox).where(graph_outbox.c.id.in_(chunk)))
        # webhook deliveries about these memories hold their text in the body
        for chunk in _chunks(ids):
            conn.execute(sa.delete(webhook_deliveries).where(webhook_deliveries.c.memory_id.in_(chunk)))
        if scope is not None:
            conn.execute(sa.delete(webhook_deliveries).where(
                *[webhook_deliveries.c[f] == v for f, v in _scope_fields(scope)]))

    async def _compact_lexical(self) -> None:
        # FTS5 marks deleted rows in a newer segment and keeps their terms in the older ones
        # until segments merge: merge them all now, so no erased word stays in the index
        async with self._sql.writing() as conn:
            await conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES('optimize')")  # nosec B608  # constant name

    async def _checkpoint(self) -> None:
        # the WAL file still holds the pages as they were before the erase: fold it into the
        # (zeroed) database file and truncate it
        async with self._sql.reading() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def reset(self) -> None:
        try:
            async with self._sql.writing(ordered=True) as conn:
                # webhook deliveries (pending or logged) carry memories' text too
                for table in (memories, memory_history, graph_outbox, memory_mentions, memory_feedback,
                              webhook_deliveries):
                    await conn.execute(sa.delete(table))
        finally:
            self._cache.clear()

    # -- memory reads ------------------------------------------------------------------------

    async def get(self, id: MemoryId) -> MemoryRecord | None:
        return await self._first(_by_listed_ids(1, False), [id])

    async def get_many(self, ids: Sequence[MemoryId], *, recent: bool = False) -> dict[MemoryId, MemoryRecord]:
        return (await self._read_many(ids, recent, embeddings=False))[0]

    async def get_many_with_embeddings(
        self, ids: Sequence[MemoryId], *, recent: bool = False
    ) -> tuple[dict[MemoryId, MemoryRecord], dict[MemoryId, Vector]]:
        return await self._read_many(ids, recent, embeddings=True)

    async def _read_many(
        self, ids: Sequence[MemoryId], recent: bool, embeddings: bool
    ) -> tuple[dict[MemoryId, MemoryRecord], dict[MemoryId, Vector]]:
        # rows read with their embeddings come from SQL even when kept here: the cache holds no
        # embeddings, and a hit's exact score from the vector index instead costs more (~15-35 us
        # a vector) than reading its row again (~10 us)
        found, missing = self._cache.lookup(ids) if recent and not embeddings else ({}, list(ids))
        if not missing:
            return found, {}
        read_at = self._cache.generation
        # a search's hits (limit ~10, plus a margin) are read on the loop's own connection
        rows = (self._sql.rows_here(_by_listed_ids(len(missing), embeddings), missing)
                if recent and len(missing) <= _SMALL_READ else None)
        if rows is not None:
            fresh = [self._driver_rows.record(row) for row in rows]
            vectors = {r.id: codec.decode_vector(row[-1]) for r, row in zip(fresh, rows)} if embeddings else {}
        else:
            fresh, vectors = await self._sql.read(partial(_read_by_ids, missing, embeddings))
        if not embeddings:  # only the reads that answer from the cache fill it (~0.8 KB a row)
            self._cache.fill(fresh, read_at)
        found.update((r.id, r) for r in fresh)
        return found, vectors

    async def find_by_hash(self, scope: Scope, hash: str) -> MemoryRecord | None:
        owners = [value for _, value in _owner(scope)]
        statement = _by_hash(tuple(value is not None for value in owners))
        # every add with inference asks this once per fact
        return await self._first(statement, [hash, *(value for value in owners if value is not None)])

    async def _first(self, statement: sa.Select[Any], params: list[Any]) -> MemoryRecord | None:
        """The first row of a read by key (its parameters named p0, p1... in order): on the loop's
        own connection, where it waits for no pooled one (32 clients adding: ~86 ms on average for
        the duplicate check through the async engine), else in a reader."""
        rows = self._sql.rows_here(statement, params)
        if rows is not None:
            return self._driver_rows.record(rows[0]) if rows else None
        async with self._sql.reading() as conn:
            row = (await conn.execute(statement, {f"p{i}": value for i, value in enumerate(params)})).first()
        return codec.record_from_row(row) if row is not None else None

    async def list_page(
        self,
        scope: Scope | None,
        *,
        order: Order,
        after: PageCursor | None,
        limit: int,
        include_invalidated: bool,
    ) -> list[MemoryRecord]:
        if limit <= 0:
            return []
        at = memories.c.created_at if order in _BY_CREATED else memories.c.updated_at
        key = sa.tuple_(at, memories.c.id)
        query = sa.select(*codec.RECORD_COLUMNS).where(*_visible(scope, include_invalidated))
        if after is not None:
            # row-value comparison: both backends serve it from the (timestamp, id) index
            query = query.where(key < (after.at, after.id) if order in _DESCENDING else key > (after.at, after.id))
        if order in _DESCENDING:
            query = query.order_by(at.desc(), memories.c.id.desc())
        else:
            query = query.order_by(at.asc(), memories.c.id.asc())
        async with self._sql.reading() as conn:
            result = await conn.execute(query.limit(limit))
            return [codec.record_from_row(r) for r in result]

    async def ids_in_scope(self, scope: Scope, include_invalidated: bool) -> list[MemoryId]:
        query = (
            sa.select(memories.c.id)
            .where(*_visible(scope, include_invalidated))
            .order_by(memories.c.created_at, memories.c.id)
        )
        async with self._sql.reading() as conn:
            return list((await conn.execute(query)).scalars())

    async def lexical_search(
        self, scope: Scope, terms: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[tuple[MemoryId, float]]:
        conditions = _visible(scope, include_invalidated)
        if k <= 0:
            return []
        if self._sqlite:
            # rank twice as many first: invalidated memories are the only rows dropped after the
            # cut (the owner tokens state the scope); only when that was not enough, rank all
            ranked_first = k if include_invalidated else 2 * k
            fast = search_statement(True, terms, scope, _visible(scope, True), k, ranked_first=ranked_first)
            if fast is None:
                return []
            rows = await self._sql.read(lambda conn: conn.execute(fast).all())
            kept = [(str(r.id), float(r.score)) for r in rows if include_invalidated or r.valid]
            if len(kept) >= k or len(rows) < ranked_first:
                return kept[:k]
        query = search_statement(self._sqlite, terms, scope, conditions, k)
        if query is None:
            return []
        return await self._sql.read(lambda conn: [(str(id_), float(score)) for id_, score in conn.execute(query)])

    # -- mention index ---------------------------------------------------------------------------

    async def mention_counts(
        self, scope: Scope, keys: Sequence[str], include_invalidated: bool = False
    ) -> dict[str, int]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        m = memory_mentions.c
        query = (
            sa.select(m.entity, sa.func.count())
            .select_from(memory_mentions.join(memories, memories.c.id == m.memory_id))
            .where(m.entity.in_(wanted), *_by_owner(scope), *_visible(scope, include_invalidated))
            .group_by(m.entity)
        )
        return await self._sql.read(lambda conn: {str(key): int(n) for key, n in conn.execute(query)})

    async def mentioning(
        self, scope: Scope, keys: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[MemoryId]:
        wanted = list(dict.fromkeys(keys))
        if not wanted or k <= 0:
            return []
        m = memory_mentions.c
        named = sa.func.count().label("named")
        query = (
            sa.select(m.memory_id, named)
            .select_from(memory_mentions.join(memories, memories.c.id == m.memory_id))
            .where(m.entity.in_(wanted), *_by_owner(scope), *_visible(scope, include_invalidated))
            .group_by(m.memory_id, memories.c.created_at)
            .order_by(named.desc(), memories.c.created_at.desc(), m.memory_id)
            .limit(k)
        )
        return await self._sql.read(lambda conn: [str(id_) for id_, _ in conn.execute(query)])

    async def mentions(self, ids: Sequence[MemoryId]) -> dict[MemoryId, list[str]]:
        def read(conn: sa.Connection) -> dict[MemoryId, list[str]]:
            found: dict[MemoryId, list[str]] = {}
            for chunk in _chunks(ids):
                query = sa.select(memory_mentions.c.memory_id, memory_mentions.c.entity).where(
                    memory_mentions.c.memory_id.in_(chunk))
                for id_, key in conn.execute(query):
                    found.setdefault(str(id_), []).append(str(key))
            return {id_: sorted(keys) for id_, keys in found.items()}

        return await self._sql.read(read)

    async def history(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[HistoryEntry]]:
        """Every requested id is a key; ids never seen map to an empty list."""
        entries: dict[MemoryId, list[HistoryEntry]] = {id_: [] for id_ in memory_ids}
        async with self._sql.reading() as conn:
            for chunk in _chunks(memory_ids):
                query = (
                    sa.select(*codec.HISTORY_COLUMNS)
                    .where(memory_history.c.memory_id.in_(chunk))
                    .order_by(memory_history.c.seq)
                )
                for row in await conn.execute(query):
                    entry = codec.history_from_row(row)
                    entries[entry.memory_id].append(entry)
        return entries

    # -- feedback ------------------------------------------------------------------------------

    async def put_feedback(self, memory_id: MemoryId, feedback: Feedback | None) -> bool:
        async with self._sql.writing() as conn:
            # the row stays locked (PostgreSQL; SQLite's writer lock) so a delete cannot slip in between
            exists = (await conn.execute(
                sa.select(memories.c.id).where(memories.c.id == memory_id).with_for_update())).first()
            if exists is None:
                return False
            await conn.execute(sa.delete(memory_feedback).where(memory_feedback.c.memory_id == memory_id))
            if feedback is not None:
                await conn.execute(sa.insert(memory_feedback).values(
                    memory_id=memory_id, rating=feedback.rating.value, reason=feedback.reason,
                    actor=feedback.actor, created_at=feedback.created_at))
            return True

    async def feedback(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, Feedback]:
        out: dict[MemoryId, Feedback] = {}
        f = memory_feedback.c
        async with self._sql.reading() as conn:
            for chunk in _chunks(memory_ids):
                query = sa.select(f.memory_id, f.rating, f.reason, f.actor, f.created_at).where(f.memory_id.in_(chunk))
                for row in await conn.execute(query):
                    out[row.memory_id] = Feedback(row.memory_id, FeedbackRating(row.rating), row.reason, row.actor,
                                                  row.created_at)
        return out

    async def changed_since(self, seq: int, limit: int) -> list[tuple[int, MemoryId]]:
        query = (
            sa.select(memory_history.c.seq, memory_history.c.memory_id)
            .where(memory_history.c.seq > seq)
            .order_by(memory_history.c.seq)
            .limit(limit)
        )
        async with self._sql.reading() as conn:
            changed = [(int(s), str(m)) for s, m in await conn.execute(query)]
        # another replica's writes reach this process here (the follower): drop their old rows
        self._cache.forget(m for _, m in changed)
        return changed

    async def catalog(self, after: MemoryId | None = None, limit: int | None = None) -> list[CatalogRow]:
        if after is None:
            self._cache.clear()  # the caller rebuilds its whole view (start-up, a reset elsewhere)
        c = memories.c
        query = sa.select(c.id, c.user_id, c.agent_id, c.run_id, c.invalidated_at.is_(None), c.expires_at)
        if limit is not None:
            query = query.order_by(c.id).limit(limit)
        if after is not None:
            query = query.where(c.id > after)
        async with self._sql.reading() as conn:
            result = await conn.execute(query)
            return [CatalogRow(id=i, scope=codec.scope_of(u, a, r), valid=bool(v), expires_at=x)
                    for i, u, a, r, v, x in result]

    async def text_rows(self, after: MemoryId | None, limit: int) -> list[TextRow]:
        c = memories.c
        query = sa.select(c.id, c.user_id, c.agent_id, c.run_id, c.invalidated_at.is_(None), c.text, c.created_at,
                          c.expires_at).order_by(c.id).limit(limit)
        if after is not None:
            query = query.where(c.id > after)

        def read(conn: sa.Connection) -> list[TextRow]:
            rows = conn.execute(query).all()
            named: dict[str, list[str]] = {}
            if rows:
                m = memory_mentions.c
                keys = sa.select(m.memory_id, m.entity).where(m.memory_id >= rows[0].id, m.memory_id <= rows[-1].id)
                for id_, key in conn.execute(keys):
                    named.setdefault(str(id_), []).append(str(key))
            return [TextRow(i, codec.scope_of(u, a, r), bool(v), t, at, x, tuple(named.get(i, ())))
                    for i, u, a, r, v, t, at, x in rows]

        return await self._sql.read(read)

    async def embeddings_since(
        self, seq: int, *, after: MemoryId | None = None, limit: int | None = None
    ) -> list[tuple[MemoryId, Vector]]:
        query = sa.select(memories.c.id, memories.c.embedding).where(memories.c.seq > seq)
        if after is not None:
            query = query.where(memories.c.id > after)
        query = query.order_by(memories.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._sql.reading() as conn:
            result = await conn.execute(query)
            return [(id_, codec.decode_vector(blob)) for id_, blob in result]

    async def embeddings(self, ids: Sequence[MemoryId]) -> dict[MemoryId, Vector]:
        found: dict[MemoryId, Vector] = {}
        async with self._sql.reading() as conn:
            for chunk in _chunks(ids):
                query = sa.select(memories.c.id, memories.c.embedding).where(memories.c.id.in_(chunk))
                found.update((id_, codec.decode_vector(blob)) for id_, blob in await conn.execute(query))
        return found

    async def max_seq(self) -> int:
        async with self._sql.reading() as conn:
            return await conn.run_sync(self._max_seq)

    async def count(self, include_invalidated: bool = True) -> int:
        query = sa.select(sa.func.count()).select_from(memories).where(*_visible(None, include_invalidated))
        async with self._sql.reading() as conn:
            return int((await conn.execute(query)).scalar_one())

    # -- graph outbox --------------------------------------------------------------------------

    async def pending_graph_work(self, limit: int) -> list[GraphWork]:
        if limit <= 0:
            return []
        query = (
            sa.select(*codec.OUTBOX_COLUMNS)
            .order_by(graph_outbox.c.created_at, graph_outbox.c.id)
            .limit(limit)
        )
        async with self._sql.reading() as conn:
            return [codec.work_from_row(row) for row in await conn.execute(query)]

    async def complete_graph_work(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self._sql.writing() as conn:
            for chunk in _chunks(ids):
                await conn.execute(sa.delete(graph_outbox).where(graph_outbox.c.id.in_(chunk)))

    async def record_graph_failure(self, ids: Sequence[str], error: str) -> None:
        if not ids:
            return
        values = {
            "attempts": graph_outbox.c.attempts + 1,
            "last_error": error[:_MAX_ERROR_CHARS],
            "last_attempt_at": utcnow(),
        }
        async with self._sql.writing() as conn:
            for chunk in _chunks(ids):
                await conn.execute(sa.update(graph_outbox).where(graph_outbox.c.id.in_(chunk)).values(values))

    async def outbox_size(self) -> int:
        async with self._sql.reading() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(graph_outbox))).scalar_one())

    # -- lifecycle -----------------------------------------------------------------------------

    async def ping(self) -> None:
        """Whether the database answers, on a connection of its own (see probe_engine)."""
        with translate_sql():
            async with self._probe.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self._group.aclose()
        self._sql.close()
        if self._probe is not self._engine:
            await self._probe.dispose()
        await self._engine.dispose()

    @staticmethod
    def _max_seq(conn: sa.Connection) -> int:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(memory_history.c.seq), 0))).scalar_one())


def _disjoint(changes: Sequence[_Encoded]) -> bool:
    seen: set[str] = set()
    for c in changes:
        ids = c.ids()
        if seen & ids:
            return False
        seen |= ids
    return True


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


def _owner(scope: Scope) -> list[tuple[sa.Column[Any], str | None]]:
    c = memories.c
    return [(c.user_id, scope.user_id), (c.agent_id, scope.agent_id), (c.run_id, scope.run_id)]


def _by_owner(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """The mention index's own owner column, so a scoped look-up reads that user's rows only."""
    return [memory_mentions.c.user_id == scope.user_id] if scope.user_id is not None else []


def _visible(scope: Scope | None, include_invalidated: bool) -> list[sa.ColumnElement[bool]]:
    """Prefix scope filter (only the fields set constrain) plus the validity filter."""
    conditions: list[sa.ColumnElement[bool]] = []
    if scope is not None:
        conditions += [column == value for column, value in _owner(scope) if value is not None]
    if not include_invalidated:
        conditions.append(memories.c.invalidated_at.is_(None))
    return conditions


def _scope_fields(scope: Scope) -> list[tuple[str, str]]:
    return [(f, v) for f in ("user_id", "agent_id", "run_id") if (v := getattr(scope, f)) is not None]


def _in_scope(scope: Scope | None, owner: Any) -> bool:
    if scope is None or not isinstance(owner, dict):
        return False
    return all(owner.get(f) == v for f, v in _scope_fields(scope))
