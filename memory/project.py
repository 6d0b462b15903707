"""Project settings: the category set and the extraction instructions every add of the project
uses unless it brings its own (mem0's `project.update(custom_categories=..., custom_instructions=...)`).

AgentMem has one project per deployment. The settings live in SQL (ProjectSettingsStore), so
every replica reads the same ones and they outlive a restart. Each replica keeps them for
`ttl_s` seconds: a change applies at once on the replica that made it and within `ttl_s` on the
others (no event is needed, and none can be lost)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from memory.categories import Category, check_categories
from memory.errors import InvalidInput
from memory.models import utcnow

MAX_INSTRUCTIONS = 4_000  # characters; they go into every extraction prompt


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """None: not set (an add then uses the configured set / no extra instructions)."""

    custom_categories: tuple[Category, ...] | None = None
    custom_instructions: str | None = None
    updated_at: datetime | None = None


class ProjectSettingsStore(Protocol):
    """The one project's settings, in SQL."""

    async def get_project_settings(self) -> ProjectSettings:
        """The stored settings; all None when never set."""
        ...

    async def put_project_settings(self, settings: ProjectSettings) -> None:
        """Replace the stored settings."""
        ...


class _Unset:
    pass


UNSET: Any = _Unset()  # a field an update leaves as it is


def check_instructions(text: Any) -> str | None:
    """Custom instructions: a string of at most MAX_INSTRUCTIONS characters; blank clears them."""
    if not isinstance(text, str):
        raise InvalidInput("custom_instructions must be a string")
    if len(text) > MAX_INSTRUCTIONS:
        raise InvalidInput(f"custom_instructions is longer than {MAX_INSTRUCTIONS} characters")
    return text.strip() or None


class ProjectSettingsCache:
    """Reads through to the store at most once per `ttl_s`; an update here refreshes it at once."""

    def __init__(self, store: ProjectSettingsStore, ttl_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._held: ProjectSettings | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()  # concurrent adds after expiry share one read; updates serialise

    async def current(self) -> ProjectSettings:
        if self._held is not None and self._monotonic() - self._read_at < self._ttl_s:
            return self._held
        async with self._lock:
            if self._held is None or self._monotonic() - self._read_at >= self._ttl_s:
                self._keep(await self._store.get_project_settings())
            assert self._held is not None
            return self._held

    async def update(self, *, custom_categories: Any = UNSET, custom_instructions: Any = UNSET) -> ProjectSettings:
        """Change the given fields (checked first). An empty category list or blank instructions
        clear that setting: adds fall back to the configured set / no extra instructions."""
        if custom_categories is UNSET and custom_instructions is UNSET:
            raise InvalidInput("give custom_categories and/or custom_instructions to update")
        categories: Any = UNSET
        if custom_categories is not UNSET:
            empty = custom_categories is None or (isinstance(custom_categories, (list, tuple)) and not custom_categories)
            categories = None if empty else check_categories(custom_categories)
        instructions = (UNSET if custom_instructions is UNSET
                        else None if custom_instructions is None else check_instructions(custom_instructions))
        async with self._lock:
            stored = await self._store.get_project_settings()
            changed = ProjectSettings(
                custom_categories=stored.custom_categories if categories is UNSET else categories,
                custom_instructions=stored.custom_instructions if instructions is UNSET else instructions,
                updated_at=utcnow(),
            )
            await self._store.put_project_settings(changed)
            self._keep(changed)
        return changed

    def _keep(self, settings: ProjectSettings) -> None:
        self._held = settings
        self._read_at = self._monotonic()


def categories_out(categories: tuple[Category, ...] | None) -> list[dict[str, str]] | None:
    """mem0's shape: a list of {name: description} objects."""
    return None if categories is None else [{c.name: c.description} for c in categories]
