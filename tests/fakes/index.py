from __future__ import annotations

from typing import Sequence

import numpy as np

from memory.models import MemoryId, Vector
from memory.ports import Allow, admitted


class BruteForceIndex:
    """Exact cosine search over a dict; save/load keep a copy in memory (a 'file')."""

    def __init__(self, dimension: int = 64) -> None:
        self._dim = dimension
        self._vectors: dict[MemoryId, Vector] = {}
        self.saved: tuple[int, dict[MemoryId, Vector]] | None = None
        self.arranged: list[MemoryId] | None = None  # the last order `arrange` was given

    @property
    def dimension(self) -> int:
        return self._dim

    @property
    def scan_max(self) -> int:
        return 0  # prepare() prepares nothing

    async def upsert(self, items: Sequence[tuple[MemoryId, Vector]]) -> None:
        for id, vec in items:
            self._vectors[id] = np.asarray(vec, dtype=np.float32)

    async def remove(self, ids: Sequence[MemoryId]) -> None:
        for id in ids:
            self._vectors.pop(id, None)

    async def nearest(
        self, query: Vector, k: int, allow: Allow = None, *, exact: bool = True, prepared: object = None
    ) -> list[tuple[MemoryId, float]]:
        scored = [(id, float(np.dot(query, v))) for id, v in self._vectors.items() if admitted(allow, id)]
        scored.sort(key=lambda p: -p[1])
        return scored[:k]

    async def prepare(self, allow: Allow) -> object:
        """Nothing to prepare: every nearest() scans the dict."""
        return None

    async def similarities(
        self, query: Vector, ids: Sequence[MemoryId], *, exact: bool = True
    ) -> dict[MemoryId, float]:
        return {id: float(np.dot(query, self._vectors[id])) for id in ids if id in self._vectors}

    async def ids(self) -> set[MemoryId]:
        return set(self._vectors)

    async def arrange(self, order: Sequence[MemoryId]) -> None:
        """Recorded only: a dict has no layout to change."""
        self.arranged = list(order)

    async def count(self) -> int:
        return len(self._vectors)

    async def clear(self) -> None:
        self._vectors.clear()

    async def save(self, checkpoint: int) -> None:
        self.saved = (checkpoint, dict(self._vectors))

    async def settled(self) -> None:
        """Nothing is built in the background: a dict is searched as it is written."""

    def building(self) -> None:
        return None

    async def load(self) -> int | None:
        if self.saved is None:
            self._vectors = {}
            return None
        self._vectors = dict(self.saved[1])
        return self.saved[0]
