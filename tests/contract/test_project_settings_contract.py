"""The ProjectSettingsStore contract, run against the in-memory fake and SqlProjectSettingsStore
(SQLite and PostgreSQL)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from history.engine import create_engine
from history.project import SqlProjectSettingsStore
from memory.categories import Category
from memory.models import utcnow
from memory.project import ProjectSettings
from tests.fakes.project import InMemoryProjectSettingsStore


@pytest.fixture
async def any_project_store(repository_url: str | None) -> AsyncIterator[object]:
    if repository_url is None:
        yield InMemoryProjectSettingsStore()
        return
    engine = create_engine(repository_url)
    try:
        yield SqlProjectSettingsStore(engine)
    finally:
        await engine.dispose()


async def test_nothing_is_set_until_settings_are_put(any_project_store) -> None:
    assert await any_project_store.get_project_settings() == ProjectSettings()


async def test_settings_read_back_as_written_in_order_and_are_replaced(any_project_store) -> None:
    first = ProjectSettings((Category("shipping", "parcels and couriers"), Category("billing", "invoices, refunds")),
                            "Only remember facts about orders.", utcnow())
    await any_project_store.put_project_settings(first)
    assert await any_project_store.get_project_settings() == first
    second = ProjectSettings(None, "Ignore small talk.", utcnow())
    await any_project_store.put_project_settings(second)
    assert await any_project_store.get_project_settings() == second
