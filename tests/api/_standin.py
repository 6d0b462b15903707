"""TEMPORARY stand-in for app.bootstrap until the lead's lands: real SQL + hnswlib, a hashing
embedder, no graph. Removed once app/bootstrap.py exists."""
from __future__ import annotations

import contextlib
import hashlib
from typing import AsyncIterator, Sequence

import numpy as np

from app.settings import Settings
from history import SqlMemoryRepository, create_engine
from history import migrate
from memory.service import MemoryService
from vector.hnsw import HnswIndex


class HashEmbedder:
    dimension = 384

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.md5(w.strip(".,!?").encode()).hexdigest(), 16)
                out[i, h % self.dimension] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
            if not n:
                out[i, 0] = 1.0
        return out


@contextlib.asynccontextmanager
async def service_context(settings: Settings) -> AsyncIterator[MemoryService]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate.upgrade(settings.sql_url())
    engine = create_engine(settings.sql_url())
    service = MemoryService(SqlMemoryRepository(engine), HnswIndex(settings.data_dir / "index"), HashEmbedder())
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await engine.dispose()
