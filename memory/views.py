"""What this process derives from SQL beside the vector index, kept in step together: the
scope catalog (owners, validity, expiry) and, when search reads words from memory, the text
index. The committer applies its own commits here and the follower other processes' commits,
so both views always change at the same points."""
from __future__ import annotations

from collections.abc import Iterable

from memory.catalog import ScopeCatalog
from memory.models import MemoryId, MemoryRecord
from memory.ports import MemoryRepository
from memory.text_index import TextIndex, row_of


class MemoryViews:
    def __init__(self, catalog: ScopeCatalog, text: TextIndex | None = None) -> None:
        self.catalog = catalog
        self.text = text

    def apply(self, written: Iterable[MemoryRecord], gone: Iterable[MemoryId]) -> None:
        """Memories written (added or replaced) and memories gone, as SQL now holds them."""
        for id in gone:
            self.catalog.drop(id)
            if self.text is not None:
                self.text.drop(id)
        for rec in written:
            self.catalog.put(rec.id, rec.scope, rec.valid, rec.expires_at)
            if self.text is not None:
                self.text.put(row_of(rec))

    async def reload(self, repo: MemoryRepository) -> set[MemoryId]:
        """Both views rebuilt from SQL (the caller holds the write gate); the ids of every memory."""
        await self.catalog.fill(repo.catalog)
        live = self.catalog.ids()
        if self.text is not None:
            await self.text.fill(repo.text_rows)
        return live
