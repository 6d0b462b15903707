"""The start-up rule for the SQL schema: the service never runs on a database ahead of its code,
and applies pending migrations only when configured to (settings.auto_migrate; by default only
for embedded SQLite). The `migrate` command itself is app/commands/migrate.py."""
from __future__ import annotations

from app.settings import Settings
from history import migrate
from history.migrate import SchemaVersionError


class PendingMigrations(SchemaVersionError):
    """The database is behind this code and auto_migrate is off."""


async def prepare_database(settings: Settings) -> None:
    url = settings.sql_url()
    if await migrate.at_head(url):  # the usual start: nothing to check further, and no alembic loaded
        return
    await migrate.ensure_not_ahead(url)
    if settings.migrates_on_start():
        await migrate.upgrade(url)
        return
    current = await migrate.current(url)
    if current != migrate.head():
        raise PendingMigrations(
            f"the database schema is at revision {current or 'none (empty database)'} but this release "
            f"needs {migrate.head()}; run `python -m app migrate upgrade` (back up first), or set "
            "auto_migrate = true (AGENTMEM_AUTO_MIGRATE=true) to migrate at start"
        )
