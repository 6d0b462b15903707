from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from memory.models import Vector


class HashingEmbedder:
    """Bag-of-words hashing: texts sharing words are close, equal texts are identical."""

    def __init__(self, dimension: int = 64) -> None:
        self._dim = dimension
        self.calls = 0

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
        return out
