"""SqlProjectSettingsStore: the project settings in SQL (memory.project.ProjectSettingsStore),
on SQLite or PostgreSQL."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from history.connections import SqlConnections
from history.project_tables import project_settings as t
from memory.categories import Category
from memory.project import ProjectSettings, categories_out

PROJECT = "default"  # AgentMem serves one project per deployment


class SqlProjectSettingsStore:
    """Shares the memory repository's engine: read once per cache period per replica, written
    when an admin changes the settings."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sql = SqlConnections(engine)

    async def get_project_settings(self) -> ProjectSettings:
        async with self._sql.reading() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.id == PROJECT))).first()
        return _settings(row) if row else ProjectSettings()

    async def put_project_settings(self, settings: ProjectSettings) -> None:
        values = {"custom_categories": categories_out(settings.custom_categories),
                  "custom_instructions": settings.custom_instructions, "updated_at": settings.updated_at}
        async with self._sql.writing() as conn:
            await put_project_row(conn, t, values)


async def put_project_row(conn: AsyncConnection, table: sa.Table, values: dict[str, Any]) -> None:
    """Write the project's one row of `table` (keyed by PROJECT), whether or not it exists yet. Two
    first writes at once: the later insert raises Conflict (history.errors.translate_sql)."""
    changed = await conn.execute(table.update().where(table.c.id == PROJECT).values(**values))
    if changed.rowcount == 0:
        await conn.execute(table.insert().values(id=PROJECT, **values))


def _settings(row: Any) -> ProjectSettings:
    m = row._mapping
    stored = m["custom_categories"]
    categories = (None if stored is None
                  else tuple(Category(name, description) for entry in stored for name, description in entry.items()))
    return ProjectSettings(custom_categories=categories, custom_instructions=m["custom_instructions"],
                           updated_at=m["updated_at"])
