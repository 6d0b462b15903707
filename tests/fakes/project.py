"""An in-memory ProjectSettingsStore for unit tests; tests/contract holds it to SqlProjectSettingsStore."""
from __future__ import annotations

from memory.project import ProjectSettings


class InMemoryProjectSettingsStore:
    def __init__(self) -> None:
        self.settings = ProjectSettings()
        self.reads = 0  # how often the store was asked (the cache's tests count them)

    async def get_project_settings(self) -> ProjectSettings:
        self.reads += 1
        return self.settings

    async def put_project_settings(self, settings: ProjectSettings) -> None:
        self.settings = settings
