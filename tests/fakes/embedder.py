from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from memory.models import Vector
from memory.ports import BatchHook, EmbedderState


class HashingEmbedder:
    """Bag-of-words hashing: texts sharing words are close, equal texts are identical."""

    def __init__(self, dimension: int = 64) -> None:
        self._dim = dimension
        self.calls = 0
        self._on_batch: BatchHook | None = None

    async def warmup(self) -> None:
        await self.embed(["warm-up"])

    def state(self) -> EmbedderState:
        return EmbedderState(loaded=True, alive=True)

    def observe_batches(self, hook: BatchHook) -> None:
        self._on_batch = hook

    @property
    def dimension(self) -> int:
        return self._dim

    async def embed(self, texts: Sequence[str], owner: str = "") -> Vector:
        self.calls += 1
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.casefold()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self._dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else 1.0 / np.sqrt(self._dim)
        if self._on_batch is not None:
            self._on_batch(len(texts), 0.0)
        return out
