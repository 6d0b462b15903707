"""Project settings in the core: the category set and instructions adds fall back to, checked on
update, and held per replica for a few seconds (memory/project.py)."""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from memory.categories import Category
from memory.errors import InvalidInput
from memory.models import Message, Scope
from memory.project import MAX_INSTRUCTIONS, ProjectSettingsCache
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.project import InMemoryProjectSettingsStore
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
CONFIGURED = (Category("food", "pizza pasta sushi dinner cooking"), Category("misc", "anything else"))
PROJECT = [{"meals": "sushi dinner lunch"}, {"trips": "flight hotel japan"}]


@pytest.fixture
async def service() -> AsyncIterator[MemoryService]:
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(),
                        project=InMemoryProjectSettingsStore(),
                        options=ServiceOptions(categories=CONFIGURED, category_threshold=0.2))
    await svc.start()
    yield svc
    await svc.stop()


async def add(svc: MemoryService, text: str, **kw: object) -> tuple[str, ...]:
    result = await svc.add([Message("user", text)], ALICE, infer=False, **kw)  # type: ignore[arg-type]
    return (await svc.get(result.results[0].id)).categories


async def test_adds_use_the_projects_set_until_it_is_cleared_and_an_adds_own_set_wins(service: MemoryService) -> None:
    assert await add(service, "sushi for dinner") == ("food",)
    changed = await service.update_project_settings(custom_categories=PROJECT)
    assert changed.custom_categories == (Category("meals", "sushi dinner lunch"), Category("trips", "flight hotel japan"))
    assert changed.custom_instructions is None and changed.updated_at is not None
    assert await add(service, "sushi for dinner") == ("meals",)
    assert await add(service, "a flight to japan") == ("trips",)
    own = (Category("plates", "sushi dinner"),)
    assert await add(service, "sushi for dinner", custom_categories=own) == ("plates",)
    await service.update_project_settings(custom_categories=[])
    assert (await service.project_settings()).custom_categories is None
    assert await add(service, "sushi for dinner") == ("food",)


async def test_the_projects_set_is_embedded_once_though_it_is_read_again() -> None:
    embedder = HashingEmbedder()
    service = MemoryService(InMemoryRepository(), BruteForceIndex(), embedder, project=InMemoryProjectSettingsStore(),
                            options=ServiceOptions(project_settings_ttl_s=0))  # every add reads the store again
    await service.update_project_settings(custom_categories=PROJECT)
    await add(service, "sushi for dinner")  # the set's descriptions are embedded here
    before = embedder.calls
    assert await add(service, "a flight to japan") == ("trips",)
    assert embedder.calls == before + 1  # only the memory itself


async def test_new_text_on_update_is_refiled_under_the_projects_set(service: MemoryService) -> None:
    result = await service.add([Message("user", "the weather is grey")], ALICE, infer=False)
    await service.update_project_settings(custom_categories=PROJECT)
    assert (await service.update(result.results[0].id, text="a flight to japan")).categories == ("trips",)


async def test_an_update_changes_only_the_fields_it_gives(service: MemoryService) -> None:
    await service.update_project_settings(custom_categories=PROJECT, custom_instructions="  Only orders.  ")
    kept = await service.update_project_settings(custom_instructions="Ignore small talk.")
    assert kept.custom_instructions == "Ignore small talk." and kept.custom_categories is not None
    cleared = await service.update_project_settings(custom_instructions="  ")
    assert cleared.custom_instructions is None and cleared.custom_categories is not None


async def test_bad_settings_are_refused_and_nothing_changes(service: MemoryService) -> None:
    for changes, says in (({}, "give custom_categories"), ({"custom_categories": [{"a": "x", "b": "y"}]}, "one pair"),
                          ({"custom_categories": [{"bad\nname": "x"}]}, "category name"),
                          ({"custom_categories": [{"a": ""}]}, "description"),
                          ({"custom_instructions": "x" * (MAX_INSTRUCTIONS + 1)}, "longer than"),
                          ({"custom_instructions": 3}, "must be a string")):
        with pytest.raises(InvalidInput, match=says):
            await service.update_project_settings(**changes)
    assert (await service.project_settings()).updated_at is None


async def test_the_cache_reads_the_store_once_per_period_and_sees_its_own_change_at_once() -> None:
    store, now = InMemoryProjectSettingsStore(), [0.0]
    cache = ProjectSettingsCache(store, ttl_s=5, monotonic=lambda: now[0])
    other = ProjectSettingsCache(store, ttl_s=5, monotonic=lambda: now[0])  # another replica
    assert (await cache.current()).custom_instructions is None
    await other.current()
    reads = store.reads
    await other.update(custom_instructions="Only orders.")
    assert (await other.current()).custom_instructions == "Only orders."  # its own change: at once
    assert (await cache.current()).custom_instructions is None  # the other replica: still its copy
    now[0] = 5.0
    assert (await cache.current()).custom_instructions == "Only orders."  # after the period: read again
    assert store.reads == reads + 2  # the update's read, and this replica's one re-read
