"""Alembic migrations on real SQLite files and PostgreSQL databases."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from history import migrate
from history.engine import create_engine
from history.lexical import include_name
from history.migrate import SchemaVersionError
from history.tables import metadata
from memory.errors import StoreUnavailable

TABLES = {"memories", "memory_history", "graph_outbox", "memory_mentions", "memory_feedback", "api_keys",
          "refresh_tokens", "memory_exports", "webhooks", "webhook_deliveries", "project_settings"}


async def tables_in(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_and_upgrade_again(unmigrated_sql_url: str) -> None:
    url = unmigrated_sql_url
    assert await migrate.current(url) is None and not await migrate.is_up_to_date(url)

    await migrate.upgrade(url)
    assert await migrate.current(url) == migrate.head() == "0013_hash_owner_order"
    assert await migrate.is_up_to_date(url)
    assert TABLES <= await tables_in(url)

    await migrate.downgrade(url, "base")
    assert await migrate.current(url) is None
    assert not TABLES & await tables_in(url)

    await migrate.upgrade(url)
    assert await migrate.is_up_to_date(url) and TABLES <= await tables_in(url)
    await migrate.upgrade(url)  # at head already: nothing to do, no error


async def test_migrated_schema_matches_the_table_definitions(sql_url: str) -> None:
    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False,
                                                                 "include_name": include_name})
        return [d for d in compare_metadata(context, metadata) if not _is_alembic_table(d)]

    engine = create_engine(sql_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_history_seq_uses_sqlite_autoincrement(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            query = sa.text("SELECT sql FROM sqlite_master WHERE name = 'memory_history'")
            ddl = (await conn.execute(query)).scalar_one()
    finally:
        await engine.dispose()
    assert "AUTOINCREMENT" in ddl


async def test_a_revision_from_a_newer_release_is_refused_clearly(sql_url: str) -> None:
    await set_revision(sql_url, "9999_from_the_future")
    with pytest.raises(SchemaVersionError, match="9999_from_the_future.*newer release"):
        await migrate.ensure_not_ahead(sql_url)
    with pytest.raises(SchemaVersionError):
        await migrate.upgrade(sql_url)
    assert not await migrate.is_up_to_date(sql_url)


def test_the_newest_revision_read_from_the_files_is_alembics() -> None:
    assert migrate.declared_head() == migrate.head()


def test_revision_files_that_are_not_clear_cut_leave_the_answer_to_alembic(tmp_path: Path) -> None:
    def write(name: str, body: str) -> None:
        (tmp_path / name).write_text(body, encoding="utf-8")

    write("a.py", 'revision: str = "a"\ndown_revision = None\n')
    write("b.py", 'revision = "b"\ndown_revision: str | None = "a"\n')
    assert migrate.declared_head(tmp_path) == "b"
    write("c.py", 'revision = "c"\ndown_revision = "a"\n')  # two branches from a: two heads
    assert migrate.declared_head(tmp_path) is None
    write("d.py", 'revision = "d"\ndown_revision = ("b", "c")\n')  # a merge: one head again
    assert migrate.declared_head(tmp_path) == "d"
    write("e.py", 'revision = "e"\ndown_revision = PARENT\n')  # not a literal: cannot tell its parent
    assert migrate.declared_head(tmp_path) is None
    assert migrate.declared_head(tmp_path / "none") is None


async def test_at_head_only_for_a_database_at_the_newest_revision(unmigrated_sql_url: str) -> None:
    url = unmigrated_sql_url
    assert not await migrate.at_head(url)  # no version table yet
    await migrate.upgrade(url)
    assert await migrate.at_head(url)
    await set_revision(url, "0010_expiration")
    assert not await migrate.at_head(url)
    await set_revision(url, "9999_from_the_future")
    assert not await migrate.at_head(url)


async def test_known_revisions_and_fresh_databases_pass_the_check(unmigrated_sql_url: str) -> None:
    await migrate.ensure_not_ahead(unmigrated_sql_url)
    await migrate.upgrade(unmigrated_sql_url)
    await migrate.ensure_not_ahead(unmigrated_sql_url)


async def test_concurrent_upgrades_of_one_database_both_succeed(unmigrated_sql_url: str) -> None:
    # several app processes starting at once must not trip over each other's DDL
    await asyncio.gather(*(migrate.upgrade(unmigrated_sql_url) for _ in range(3)))
    assert await migrate.is_up_to_date(unmigrated_sql_url)


async def test_migrating_an_unreachable_database_raises_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await migrate.upgrade("postgresql://postgres@127.0.0.1:1/none")


def _is_alembic_table(diff: object) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


async def test_the_mention_index_is_backfilled_for_memories_stored_before_it(unmigrated_sql_url: str) -> None:
    from datetime import UTC, datetime

    from history.repository import SqlMemoryRepository
    from history.tables import memories
    from memory.models import Scope

    url = unmigrated_sql_url
    await migrate.upgrade(url, "memory_event_time")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": f"m{i}", "text": text, "hash": f"h{i}", "user_id": "u", "agent_id": None, "run_id": None,
             "metadata": {}, "categories": [], "created_at": at, "updated_at": at, "invalidated_at": None,
             "invalidation_reason": None, "occurred_at": at, "embedding": b"\0" * 16, "seq": 0}
            for i, text in enumerate(["Caroline met Dr. Chen in Paris", "nothing named here"])]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(memories), rows)
    finally:
        await engine.dispose()
    await migrate.upgrade(url)
    repo = SqlMemoryRepository(create_engine(url))
    try:
        assert await repo.mentions(["m0", "m1"]) == {"m0": ["caroline", "dr. chen", "paris"]}
        assert await repo.mentioning(Scope("u"), ["paris"], 10) == ["m0"]
    finally:
        await repo.close()
    await migrate.downgrade(url, "memory_event_time")
    assert "memory_mentions" not in await tables_in(url)



async def test_memories_stored_before_the_immutable_column_read_as_mutable(unmigrated_sql_url: str) -> None:
    from datetime import UTC, datetime

    from history.repository import SqlMemoryRepository
    from history.tables import memories

    url = unmigrated_sql_url
    await migrate.upgrade(url, "memory_mentions")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    row = {"id": "old", "text": "written before", "hash": "h", "user_id": "u", "agent_id": None, "run_id": None,
           "metadata": {}, "categories": [], "created_at": at, "updated_at": at, "invalidated_at": None,
           "invalidation_reason": None, "occurred_at": at, "embedding": b"\0" * 16, "seq": 0}
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(memories), [row])  # only the columns the old schema has
    finally:
        await engine.dispose()
    await migrate.upgrade(url)
    repo = SqlMemoryRepository(create_engine(url))
    try:
        old = await repo.get("old")
        assert old is not None and old.immutable is False and old.text == "written before"
    finally:
        await repo.close()
    await migrate.downgrade(url, "memory_mentions")
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("memories")})
    finally:
        await engine.dispose()
    assert "immutable" not in columns and "occurred_at" in columns


async def test_the_feedback_table_comes_and_goes_with_its_revision(unmigrated_sql_url: str) -> None:
    url = unmigrated_sql_url
    await migrate.upgrade(url)
    assert "memory_feedback" in await tables_in(url)
    await migrate.downgrade(url, "memory_mentions")
    assert await migrate.current(url) == "memory_mentions"
    tables = await tables_in(url)
    assert "memory_feedback" not in tables and "memory_mentions" in tables
    await migrate.upgrade(url)
    assert "memory_feedback" in await tables_in(url) and await migrate.is_up_to_date(url)


async def test_the_expiry_column_and_its_index_come_and_go_with_their_revision(unmigrated_sql_url: str) -> None:
    url = unmigrated_sql_url

    async def columns_and_indexes() -> tuple[set[str], set[str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: (
                    {c["name"] for c in sa.inspect(sync).get_columns("memories")},
                    {i["name"] for i in sa.inspect(sync).get_indexes("memories")}))
        finally:
            await engine.dispose()

    await migrate.upgrade(url)
    columns, indexes = await columns_and_indexes()
    assert "expires_at" in columns and "ix_memories_expires_at" in indexes
    await migrate.downgrade(url, "0007_feedback")
    columns, indexes = await columns_and_indexes()
    assert "expires_at" not in columns and "ix_memories_expires_at" not in indexes and "immutable" in columns
    await migrate.upgrade(url)
    assert await migrate.is_up_to_date(url)
