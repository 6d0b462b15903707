"""A float16 copy of the index's vectors, for exact scans of small allowed sets.

hnswlib hands stored vectors back only through `get_items`, which builds a Python float per
component (~19 us a 384-d vector here): an exact scan of a 2,000-memory scope cost ~40 ms that
way, against ~0.5 ms from a NumPy matrix. Rows are copied when a vector is written and when a
snapshot is loaded (in the background); a label not copied yet is read from hnswlib by the scan
that needs it. float16 halves the copy (77 MB at 100k x 384); ranking by it moves cosine scores
by ~1e-3, so the scan re-scores its final top k exactly from hnswlib.

Labels are never reused (every add takes a new one), so rows are slots: a removed vector's slot
goes to the next one written, and the copy grows with the live vectors, not with churn (only the
label -> slot table, 4 bytes a label, follows every label ever issued).

Only `put`, `forget` and `copy` write, and they run under the index's exclusive lock; `matrix`
runs under the shared lock and only reads."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Fetch = Callable[[list[int]], np.ndarray]


class VectorMirror:
    def __init__(self, dimension: int, capacity: int = 1024) -> None:
        self._dim = dimension
        self._rows = np.zeros((max(1, capacity), dimension), dtype=np.float16)
        self._slot_of = np.full(max(1, capacity), -1, dtype=np.int32)  # label -> slot, -1: none
        self._free: list[int] = []
        self._used = 0  # slots handed out so far (the free list holds the released ones)

    def put(self, labels: Sequence[int], matrix: np.ndarray) -> None:
        slots = self._slots_for(labels)
        self._rows[slots] = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def copy(self, labels: Sequence[int], fetch: Fetch) -> None:
        """Copy in the labels not mirrored yet, reading them with `fetch`."""
        missing = [label for label in labels if not self._has(label)]
        if missing:
            self.put(missing, np.asarray(fetch(missing), dtype=np.float32))

    def forget(self, label: int) -> None:
        if label < len(self._slot_of) and (slot := int(self._slot_of[label])) >= 0:
            self._slot_of[label] = -1
            self._free.append(slot)

    def matrix(self, labels: Sequence[int], fetch: Fetch) -> np.ndarray:
        """float32 rows for `labels` (L2-normalised); `fetch` reads the ones not mirrored yet."""
        idx = np.asarray(labels, dtype=np.int64)
        slots = np.full(len(idx), -1, dtype=np.int64)
        known = idx < len(self._slot_of)
        slots[known] = self._slot_of[idx[known]]
        out = np.empty((len(idx), self._dim), dtype=np.float32)
        have = slots >= 0
        out[have] = self._rows[slots[have]]
        missing = np.flatnonzero(~have)
        if len(missing):
            vectors = np.asarray(fetch([int(idx[i]) for i in missing]), dtype=np.float32)
            out[missing] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return out

    def _has(self, label: int) -> bool:
        return label < len(self._slot_of) and bool(self._slot_of[label] >= 0)

    def _slots_for(self, labels: Sequence[int]) -> np.ndarray:
        top = max(labels) + 1
        if top > len(self._slot_of):
            grown = np.full(max(top, 2 * len(self._slot_of)), -1, dtype=np.int32)
            grown[: len(self._slot_of)] = self._slot_of
            self._slot_of = grown
        slots = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            slot = int(self._slot_of[label])
            if slot < 0:
                slot = self._free.pop() if self._free else self._next_slot()
                self._slot_of[label] = slot
            slots[i] = slot
        return slots

    def _next_slot(self) -> int:
        if self._used == len(self._rows):  # doubling keeps the (copying) resizes logarithmic
            grown = np.zeros((2 * len(self._rows), self._dim), dtype=np.float16)
            grown[: len(self._rows)] = self._rows
            self._rows = grown
        self._used += 1
        return self._used - 1
