"""Alembic environment for AgentMem.

Two ways in:
* programmatic (history/migrate.py): the caller opens an async connection and hands its sync
  facade in `config.attributes["connection"]` from inside `AsyncConnection.run_sync`;
* the alembic CLI: the URL comes from `-x url=...` or AGENTMEM_DATABASE_URL (never the ini).
"""
from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from history.engine import WRITE_INTENT, create_engine
from history.lexical import include_name
from history.migrate import MIGRATION_LOCK
from history.tables import metadata as target_metadata


config = context.config

if config.config_file_name is not None and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        config.get_main_option("sqlalchemy.url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("AGENTMEM_DATABASE_URL")
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or set AGENTMEM_DATABASE_URL")
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # the full-text index is derived, not in the table metadata
    )


def do_run_migrations(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # the CLI path; re-taking it is a no-op
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(_url(), pool_size=1, max_overflow=0)
    try:
        # WRITE_INTENT: on SQLite the transaction takes the write lock up front
        async with engine.execution_options(**{WRITE_INTENT: True}).connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    do_run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
