"""SqlMemoryRepository against real SQLite files and real PostgreSQL databases."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from history.tables import graph_outbox
from memory.errors import Conflict, InvalidInput, StoreUnavailable
from memory.models import (
    ChangeEvent,
    GraphWork,
    HistoryEntry,
    MemoryRecord,
    Scope,
    StoredMemory,
    Triple,
    text_hash,
)
from memory.ports import CatalogRow, ChangeSet, Order, PageCursor

T0 = datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
ALICE = Scope(user_id="alice")
DIM = 8


def vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def record(
    id: str,
    text: str = "likes tea",
    scope: Scope = ALICE,
    created: datetime = T0,
    updated: datetime | None = None,
    invalidated: datetime | None = None,
    **extra: object,
) -> MemoryRecord:
    return MemoryRecord(
        id=id, text=text, hash=text_hash(text), scope=scope, metadata=extra.pop("metadata", {}),  # type: ignore[arg-type]
        created_at=created, updated_at=updated or created, invalidated_at=invalidated, **extra,  # type: ignore[arg-type]
    )


def stored(rec: MemoryRecord, seed: int = 0) -> StoredMemory:
    return StoredMemory(record=rec, embedding=vector(seed))


def added(rec: MemoryRecord) -> HistoryEntry:
    return HistoryEntry(
        memory_id=rec.id, event=ChangeEvent.ADD, old_text=None, new_text=rec.text, scope=rec.scope,
        created_at=rec.created_at, actor="tester", role="user", reason=None,
    )


def add(*recs: MemoryRecord) -> ChangeSet:
    return ChangeSet(writes=[stored(r, i) for i, r in enumerate(recs)], history=[added(r) for r in recs])


def work(id: str, created: datetime = T0, memory_id: str | None = "m1") -> GraphWork:
    return GraphWork(
        id=id, scope=Scope(user_id="alice", agent_id="bot"),
        triples=(Triple("alice", "likes", "tea"), Triple("alice", "lives_in", "paris", "person", "city")),
        memory_id=memory_id, created_at=created,
        entity_embeddings={"alice": (0.1, -2.5, 1e-30), "tea": tuple(float(x) for x in vector(7))},
        exclusive_relations=frozenset({"lives_in", "works_at"}),
    )


async def test_commit_round_trips_a_record_with_aware_utc_datetimes(repository: SqlMemoryRepository) -> None:
    paris = timezone(timedelta(hours=1))
    rec = record(
        "m1", created=T0.astimezone(paris), updated=T0 + timedelta(seconds=1),
        metadata={"source": "chat", "nested": {"n": [1, 2.5, None, True]}, "ünï": "cødé"},
        categories=("food", "preferences"), invalidated=T0 + timedelta(days=1), invalidation_reason="changed mind",
    )
    await repository.commit(add(rec))
    got = await repository.get("m1")
    assert got == rec
    assert got is not None and got.created_at.tzinfo == UTC and got.categories == ("food", "preferences")
    assert await repository.get("missing") is None
    # a search's read of its hits (on SQLite through the driver itself) gives the same record
    rows, embeddings = await repository.get_many_with_embeddings(["m1", "missing"], recent=True)
    assert rows == {"m1": rec} and np.array_equal(embeddings["m1"], vector(0))


async def test_a_search_reads_every_field_of_its_hits_as_written(repository: SqlMemoryRepository) -> None:
    full = record("m1", occurred_at=T0 - timedelta(days=3), expires_at=T0 + timedelta(days=30), immutable=True,
                  metadata={"n": 1.5}, scope=Scope(user_id="alice", agent_id="bot", run_id="r1"))
    bare = record("m2", "likes jazz", scope=Scope(agent_id="bot"))
    await repository.commit(add(full, bare))
    assert await repository.get_many(["m2", "m1"], recent=True) == {"m1": full, "m2": bare}


async def test_seqs_increase_across_commits_and_rows_record_the_highest(repository: SqlMemoryRepository) -> None:
    assert await repository.max_seq() == 0
    first = await repository.commit(add(record("a"), record("b")))
    second = await repository.commit(add(record("c")))
    assert second > first >= 2
    history = await repository.history(["a", "b", "c"])
    seqs = [e.seq for id_ in "abc" for e in history[id_] if e.seq is not None]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[-1] == second
    assert [i for i, _ in await repository.embeddings_since(first)] == ["c"]
    assert {i for i, _ in await repository.embeddings_since(first - 1)} == {"a", "b", "c"}


async def test_commit_without_history_returns_the_current_max_seq(repository: SqlMemoryRepository) -> None:
    seq = await repository.commit(add(record("a")))
    assert await repository.commit(ChangeSet(graph_work=[work("g1")])) == seq
    assert await repository.commit(ChangeSet(writes=[stored(record("a", text="likes coffee"))])) == seq


async def test_seqs_are_never_reused_after_deletes_or_reset(repository: SqlMemoryRepository) -> None:
    await repository.commit(add(record("a")))
    top = await repository.commit(add(record("b")))
    await repository.commit(ChangeSet(deletes=["a", "b"]))
    await repository.reset()
    assert await repository.commit(add(record("c"))) > top


async def test_a_failing_commit_leaves_nothing_behind(repository: SqlMemoryRepository) -> None:
    seq = await repository.commit(ChangeSet(graph_work=[work("g1")]))
    doomed = ChangeSet(
        writes=[stored(record("x"))], deletes=[], history=[added(record("x"))],
        graph_work=[work("g2"), work("g1")],  # g1 exists: the last statement of the transaction fails
    )
    with pytest.raises(Conflict):
        await repository.commit(doomed)
    assert await repository.get("x") is None
    assert await repository.history(["x"]) == {"x": []}
    assert await repository.max_seq() == seq
    assert [w.id for w in await repository.pending_graph_work(10)] == ["g1"]


async def test_a_write_replaces_the_whole_row_and_a_delete_keeps_history(repository: SqlMemoryRepository) -> None:
    await repository.commit(add(record("a", metadata={"k": 1}, categories=("x",))))
    newer = record("a", text="likes coffee", updated=T0 + timedelta(hours=1))
    update = HistoryEntry("a", ChangeEvent.UPDATE, "likes tea", "likes coffee", ALICE, T0 + timedelta(hours=1))
    await repository.commit(ChangeSet(writes=[stored(newer, seed=9)], history=[update]))
    assert await repository.get("a") == newer
    np.testing.assert_array_equal((await repository.embeddings(["a"]))["a"], vector(9))
    deletion = HistoryEntry("a", ChangeEvent.DELETE, "likes coffee", None, ALICE, T0 + timedelta(hours=2))
    await repository.commit(ChangeSet(deletes=["a"], history=[deletion]))
    assert await repository.get("a") is None
    events = [e.event for e in (await repository.history(["a"]))["a"]]
    assert events == [ChangeEvent.ADD, ChangeEvent.UPDATE, ChangeEvent.DELETE]
    assert (await repository.history(["a"]))["a"][0] == HistoryEntry(
        "a", ChangeEvent.ADD, None, "likes tea", ALICE, T0, actor="tester", role="user",
        seq=(await repository.history(["a"]))["a"][0].seq,
    )


async def test_embeddings_round_trip_bit_exact(repository: SqlMemoryRepository) -> None:
    special = np.array([0.0, -0.0, 1e-45, -3.4028235e38, np.inf, -np.inf, np.nan, 1 / 3], dtype=np.float32)
    rows = [StoredMemory(record(f"m{i}"), v) for i, v in enumerate([special, vector(1), np.zeros(384, np.float32)])]
    await repository.commit(ChangeSet(writes=rows))
    got = await repository.embeddings([r.record.id for r in rows] + ["missing"])
    assert set(got) == {"m0", "m1", "m2"}
    for row in rows:
        out = got[row.record.id]
        assert out.dtype == np.float32 and out.shape == row.embedding.shape and out.flags.writeable
        assert out.tobytes() == row.embedding.tobytes()


async def test_a_matrix_is_refused_as_an_embedding(repository: SqlMemoryRepository) -> None:
    with pytest.raises(InvalidInput):
        await repository.commit(ChangeSet(writes=[StoredMemory(record("a"), np.zeros((1, DIM), np.float32))]))


async def test_get_many_returns_only_known_ids(repository: SqlMemoryRepository) -> None:
    recs = [record(f"m{i:04d}") for i in range(1200)]  # more than one IN-list chunk
    await repository.commit(ChangeSet(writes=[stored(r) for r in recs]))
    got = await repository.get_many([r.id for r in recs] + ["nope", "m0001"])
    assert got == {r.id: r for r in recs}


@pytest.mark.parametrize("order", list(Order))
async def test_keyset_pages_visit_every_row_once_with_equal_timestamps(
    repository: SqlMemoryRepository, order: Order
) -> None:
    # three rows per instant so that the id tie-break decides page boundaries
    recs = [
        record(f"m{i:02d}", created=T0 + timedelta(seconds=i // 3), updated=T0 + timedelta(seconds=(29 - i) // 3))
        for i in range(30)
    ]
    await repository.commit(ChangeSet(writes=[stored(r) for r in reversed(recs)]))
    by_created = order in (Order.CREATED_ASC, Order.CREATED_DESC)
    descending = order in (Order.CREATED_DESC, Order.UPDATED_DESC)
    seen: list[MemoryRecord] = []
    after: PageCursor | None = None
    while page := await repository.list_page(None, order=order, after=after, limit=4, include_invalidated=False):
        seen += page
        last = page[-1]
        after = PageCursor(at=last.created_at if by_created else last.updated_at, id=last.id)
    expected = sorted(recs, key=lambda r: (r.created_at if by_created else r.updated_at, r.id), reverse=descending)
    assert [r.id for r in seen] == [r.id for r in expected]


async def test_list_page_filters_by_scope_prefix_and_validity(repository: SqlMemoryRepository) -> None:
    owners = {
        "u": Scope(user_id="alice"),
        "ua": Scope(user_id="alice", agent_id="bot"),
        "uar": Scope(user_id="alice", agent_id="bot", run_id="r1"),
        "a": Scope(agent_id="bot"),
        "b": Scope(user_id="bob"),
    }
    recs = [record(id_, scope=s) for id_, s in owners.items()]
    recs.append(record("gone", scope=Scope(user_id="alice"), invalidated=T0))
    await repository.commit(ChangeSet(writes=[stored(r) for r in recs]))

    async def ids(scope: Scope | None, include_invalidated: bool = False) -> set[str]:
        page = await repository.list_page(
            scope, order=Order.CREATED_ASC, after=None, limit=100, include_invalidated=include_invalidated
        )
        assert set(await repository.ids_in_scope(scope or Scope(), include_invalidated)) == {r.id for r in page}
        return {r.id for r in page}

    assert await ids(Scope(user_id="alice")) == {"u", "ua", "uar"}
    assert await ids(Scope(user_id="alice"), include_invalidated=True) == {"u", "ua", "uar", "gone"}
    assert await ids(Scope(agent_id="bot")) == {"ua", "uar", "a"}
    assert await ids(Scope(user_id="alice", run_id="r1")) == {"uar"}
    assert await ids(None) == {"u", "ua", "uar", "a", "b"}
    assert await repository.count() == 6 and await repository.count(include_invalidated=False) == 5


async def test_find_by_hash_matches_the_exact_owner_and_valid_rows_only(repository: SqlMemoryRepository) -> None:
    bot = Scope(user_id="alice", agent_id="bot")
    await repository.commit(ChangeSet(writes=[
        stored(record("owner", text="Likes  TEA", scope=bot)),
        stored(record("wider", text="likes tea", scope=ALICE)),
        stored(record("old", text="likes tea", scope=Scope(agent_id="bot"), invalidated=T0)),
    ]))
    assert (await repository.find_by_hash(bot, text_hash("likes tea"))).id == "owner"  # type: ignore[union-attr]
    assert (await repository.find_by_hash(ALICE, text_hash("likes tea"))).id == "wider"  # type: ignore[union-attr]
    assert await repository.find_by_hash(Scope(agent_id="bot"), text_hash("likes tea")) is None
    assert await repository.find_by_hash(Scope(user_id="bob"), text_hash("likes tea")) is None


async def test_find_by_hash_answers_the_oldest_repeat_for_every_owner_shape(repository: SqlMemoryRepository) -> None:
    # repeats of one text by one owner (two adds racing past each other's check): the oldest is the answer
    shapes = [ALICE, Scope(agent_id="bot"), Scope(user_id="alice", run_id="r1"), Scope("alice", "bot", "r1")]
    writes = []
    for n, scope in enumerate(shapes):
        # written newest first; "old-b" and "old-a" were stored at the same instant: the id decides
        for age, suffix in ((0, "new"), (1, "old-b"), (1, "old-a"), (0, "newer")):
            writes.append(stored(record(f"{n}-{suffix}", text="drinks coffee", scope=scope,
                                        created=T0 - timedelta(minutes=age) + timedelta(seconds=n))))
    await repository.commit(ChangeSet(writes=writes))

    async def check() -> None:
        for n, scope in enumerate(shapes):
            found = await repository.find_by_hash(scope, text_hash("drinks coffee"))
            assert found is not None and found.id == f"{n}-old-a" and found.scope == scope
        assert await repository.find_by_hash(Scope("alice", "bot"), text_hash("drinks coffee")) is None
        assert await repository.find_by_hash(ALICE, text_hash("drinks tea")) is None

    await check()  # a SQLite file: on the loop's own connection
    repository._sql.rows_here = lambda *_: None  # type: ignore[method-assign]  # as when it is busy: SQLAlchemy's
    await check()


async def test_catalog_lists_every_row_with_owner_and_validity(repository: SqlMemoryRepository) -> None:
    await repository.commit(ChangeSet(writes=[
        stored(record("a")), stored(record("b", scope=Scope(run_id="r")), 1), stored(record("c", invalidated=T0), 2),
    ]))
    assert sorted(await repository.catalog(), key=lambda row: row.id) == [
        CatalogRow("a", ALICE, True), CatalogRow("b", Scope(run_id="r"), True), CatalogRow("c", ALICE, False),
    ]


async def test_outbox_round_trips_graph_work_oldest_first(repository: SqlMemoryRepository, sql_url: str) -> None:
    items = [
        work("late", T0 + timedelta(minutes=1)),
        work("early", T0, memory_id=None),
        work("mid", T0 + timedelta(seconds=1)),
    ]
    await repository.commit(ChangeSet(graph_work=items))
    assert await repository.outbox_size() == 3
    pending = await repository.pending_graph_work(10)
    assert pending == [items[1], items[2], items[0]]
    assert isinstance(pending[0].triples[0], Triple) and isinstance(pending[0].exclusive_relations, frozenset)
    assert [w.id for w in await repository.pending_graph_work(2)] == ["early", "mid"]

    await repository.record_graph_failure(["early", "mid"], "bolt down")
    await repository.record_graph_failure(["early"], "x" * 10_000)
    engine = create_engine(sql_url)
    async with engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(sa.select(graph_outbox))}
    await engine.dispose()
    assert (rows["early"].attempts, len(rows["early"].last_error)) == (2, 4000)
    assert (rows["mid"].attempts, rows["mid"].last_error) == (1, "bolt down")
    assert rows["late"].attempts == 0 and rows["late"].last_attempt_at is None

    await repository.complete_graph_work(["early", "late", "unknown"])
    assert [w.id for w in await repository.pending_graph_work(10)] == ["mid"]
    assert await repository.outbox_size() == 1


async def test_reset_deletes_memories_history_and_outbox(repository: SqlMemoryRepository) -> None:
    await repository.commit(ChangeSet(
        writes=[stored(record("a"))], history=[added(record("a"))], graph_work=[work("g")]
    ))
    await repository.reset()
    assert await repository.count() == 0 and await repository.outbox_size() == 0
    assert await repository.history(["a"]) == {"a": []} and await repository.catalog() == []


async def test_concurrent_commits_get_distinct_increasing_seqs(repository: SqlMemoryRepository) -> None:
    seqs = await asyncio.gather(*(repository.commit(add(record(f"m{i}"))) for i in range(50)))
    assert len(set(seqs)) == 50 and await repository.max_seq() == max(seqs)
    assert await repository.count() == 50


async def test_fifty_concurrent_commits_on_a_sqlite_file_all_succeed(sqlite_url: str) -> None:
    # two engines on one file behave like two processes: only busy_timeout + BEGIN IMMEDIATE help
    repos = [SqlMemoryRepository(create_engine(sqlite_url)) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(repos[i % 2].commit(add(record(f"m{i}"))) for i in range(50)), return_exceptions=True
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert len(set(results)) == 50 and await repos[0].count() == 50
    finally:
        for repo in repos:
            await repo.close()


async def test_ping_succeeds_on_a_live_database(repository: SqlMemoryRepository) -> None:
    await repository.ping()


@pytest.mark.parametrize("url", ["sqlite:////nonexistent-dir/agentmem.db", "postgresql://postgres@127.0.0.1:1/none"])
async def test_an_unreachable_database_raises_store_unavailable(url: str) -> None:
    repo = SqlMemoryRepository(create_engine(url))
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await repo.ping()
        assert caught.value.component == "sql"
        with pytest.raises(StoreUnavailable):
            await repo.commit(add(record("a")))
    finally:
        await repo.close()
        # aiosqlite stops the worker thread of a failed connect without awaiting it; let it
        # finish before the test's loop closes, or it reports "Event loop is closed"
        await asyncio.sleep(0.05)


async def test_the_repository_recovers_after_postgresql_drops_its_connections(pg_url: str) -> None:
    repo = SqlMemoryRepository(create_engine(pg_url))
    try:
        await asyncio.gather(*(repo.count() for _ in range(5)))  # fill the pool
        killer = create_engine(pg_url)
        async with killer.connect() as conn:
            await conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))
        await killer.dispose()
        await repo.ping()  # the health probe's own connection is checked before use: never a false "down"
        try:
            await repo.count()  # the first use of a dead pooled connection may fail ...
        except StoreUnavailable:
            pass
        # ... and invalidates the whole pool, so what follows works again
        assert await repo.commit(add(record("a"))) > 0
        assert await asyncio.gather(*(repo.count() for _ in range(5))) == [1] * 5
    finally:
        await repo.close()


async def test_engines_opening_a_new_sqlite_file_together_all_switch_it_to_wal(tmp_path: Path) -> None:
    async def journal_mode(url: str) -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(sa.text("PRAGMA journal_mode"))).scalar_one())
        finally:
            await engine.dispose()

    for attempt in range(40):  # the race shows in a few percent of rounds
        url = f"sqlite:///{tmp_path / f'new{attempt}.db'}"
        assert await asyncio.gather(*(journal_mode(url) for _ in range(4))) == ["wal"] * 4


async def test_concurrent_commits_each_get_contiguous_seqs_of_their_own(repository: SqlMemoryRepository) -> None:
    changes = [add(record(f"c{i}-a"), record(f"c{i}-b")) for i in range(32)]
    results = await asyncio.gather(*(repository.commit(c) for c in changes))
    assert len(set(results)) == 32
    history = await repository.history([r.record.id for c in changes for r in c.writes])
    for change, last in zip(changes, results):
        a, b = (history[w.record.id][0].seq for w in change.writes)
        assert (a, b) == (last - 1, last)  # one commit's seqs are contiguous and end at what it returned
    for change, last in zip(changes, results):  # each row records its own commit's seq
        at_last = {i for i, _ in await repository.embeddings_since(last - 1)} - {
            i for i, _ in await repository.embeddings_since(last)}
        assert at_last == {w.record.id for w in change.writes}


async def test_a_bad_change_among_concurrent_ones_fails_alone(repository: SqlMemoryRepository) -> None:
    await repository.commit(ChangeSet(graph_work=[work("g1")]))
    good = [add(record(f"ok{i}")) for i in range(8)]
    doomed = ChangeSet(writes=[stored(record("x"))], history=[added(record("x"))], graph_work=[work("g1")])
    outcomes = await asyncio.gather(*(repository.commit(c) for c in [*good[:4], doomed, *good[4:]]),
                                    return_exceptions=True)
    assert isinstance(outcomes[4], Conflict)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 4)
    assert await repository.get("x") is None
    assert set((await repository.get_many([f"ok{i}" for i in range(8)])).keys()) == {f"ok{i}" for i in range(8)}


async def test_concurrent_changes_to_one_memory_apply_in_submission_order(repository: SqlMemoryRepository) -> None:
    await repository.commit(add(record("m")))
    texts = [f"version {i}" for i in range(6)]
    await asyncio.gather(*(repository.commit(ChangeSet(writes=[stored(record("m", text=t))])) for t in texts))
    got = await repository.get("m")
    assert got is not None and got.text == "version 5"
    await asyncio.gather(repository.commit(ChangeSet(deletes=["m"])), repository.commit(add(record("m", text="back"))))
    got = await repository.get("m")
    assert got is not None and got.text == "back"


async def test_rows_read_again_after_a_write_show_the_write(repository: SqlMemoryRepository) -> None:
    await repository.commit(add(record("m1", "likes tea"), record("m2", "likes jazz")))
    assert (await repository.get_many(["m1", "m2"], recent=True))["m1"].text == "likes tea"  # now kept
    changed = record("m1", "likes coffee", updated=T0 + timedelta(seconds=1))
    await repository.commit(ChangeSet(writes=[stored(changed)]))
    await repository.commit(ChangeSet(deletes=["m2"]))
    again = await repository.get_many(["m1", "m2"], recent=True)
    assert again["m1"].text == "likes coffee" and "m2" not in again


async def test_a_replica_reads_another_replicas_write_fresh_and_recent_once_it_follows(sql_url: str) -> None:
    a, b = SqlMemoryRepository(create_engine(sql_url)), SqlMemoryRepository(create_engine(sql_url))
    try:
        await a.commit(add(record("m1", "likes tea")))
        seen = await b.max_seq()
        assert (await b.get_many(["m1"], recent=True))["m1"].text == "likes tea"
        changed = record("m1", "likes coffee", updated=T0 + timedelta(seconds=1))
        await a.commit(ChangeSet(writes=[stored(changed)], history=[added(changed)]))
        # reads by id never answer from what the replica kept: they see A's write at once
        assert (await b.get_many(["m1"]))["m1"].text == "likes coffee"
        assert [m for _, m in await b.changed_since(seen, 10)] == ["m1"]  # what the follower asks
        assert (await b.get_many(["m1"], recent=True))["m1"].text == "likes coffee"
    finally:
        await a.close()
        await b.close()


async def test_rows_read_with_embeddings_are_not_kept_for_later_recent_reads(sql_url: str) -> None:
    # the reads that answer from the cache fill it; a search's hits, read with their embeddings,
    # do not (they would hold ~0.8 KB a row for nothing): a replica's later recent read of such
    # a row is fresh even before its follower has seen another replica's change
    a, b = SqlMemoryRepository(create_engine(sql_url)), SqlMemoryRepository(create_engine(sql_url))
    try:
        await a.commit(add(record("m1", "likes tea")))
        await b.get_many_with_embeddings(["m1"], recent=True)
        changed = record("m1", "likes coffee", updated=T0 + timedelta(seconds=1))
        await a.commit(ChangeSet(writes=[stored(changed)], history=[added(changed)]))
        assert (await b.get_many(["m1"], recent=True))["m1"].text == "likes coffee"
        assert (await b.get_many(["m1"], recent=True))["m1"].text == "likes coffee"  # kept by that read
        await a.commit(ChangeSet(writes=[stored(record("m1", "likes jazz", updated=T0 + timedelta(seconds=2)))]))
        assert (await b.get_many(["m1"], recent=True))["m1"].text == "likes coffee"  # ...until the follower says
    finally:
        await a.close()
        await b.close()


async def test_rows_read_with_embeddings_bring_every_embedding_even_when_kept(repository: SqlMemoryRepository) -> None:
    # a search scores its hits exactly from the embeddings read with their rows: the cache of
    # recent rows holds no embeddings, so a row kept there is read again rather than leaving its
    # score to the vector index (which hands a vector back far more slowly than SQL reads a row)
    await repository.commit(add(record("m1", "likes tea")))
    await repository.get_many(["m1"], recent=True)  # now kept
    await repository.commit(ChangeSet(writes=[stored(record("m2", "likes jazz"), seed=5)]))
    rows, embeddings = await repository.get_many_with_embeddings(["m1", "m2"], recent=True)
    assert set(rows) == {"m1", "m2"} and set(embeddings) == {"m1", "m2"}
    assert np.array_equal(embeddings["m1"], vector(0)) and np.array_equal(embeddings["m2"], vector(5))
