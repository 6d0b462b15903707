"""Vectors written while the index's graph is built in the background (vector/hnsw.py).

They are kept as written, one matrix per write, with a label -> (matrix, row) table in NumPy
arrays and the writes in order for the builder: no Python object per vector. A first version
kept a dict of row views and a queue of (label, add) pairs, 300k small objects at 100k vectors,
and left the process ~38 MiB larger once they were freed (Python's allocator pools, half used
around the id tables built at the same time, cannot be given back).

Only `put` and `drop` write, under the index's exclusive lock, and `take` runs there too; `rows`
and `live` are read under the shared lock."""
from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

# one step of the builder, in order: (labels, their vectors, new to the graph?) to add, or
# (labels, None, False) to remove. hnswlib may put a new label in a deleted element's place, but
# a label the graph has must be written in place: put elsewhere, its old element would stay
Step = list[tuple[np.ndarray, np.ndarray | None, bool]]


class StagedVectors:
    def __init__(self) -> None:
        # a page whose rows were all written again or removed since is freed (None): rewrites
        # during a long build cost the rows they replace only until then
        self._pages: list[np.ndarray | None] = []
        self._page_live: list[int] = []  # page -> labels whose latest write it holds
        self._dim = 0
        self._page_of = np.full(1024, -1, dtype=np.int32)  # label -> its latest write's page, -1: none
        self._row_of = np.zeros(1024, dtype=np.int32)
        self._graphed = np.zeros(1024, dtype=bool)  # label -> handed to the builder to add already
        self._writes: deque[tuple[np.ndarray, bool]] = deque()  # (labels, added?) for the builder, in order
        self.live = 0  # labels staged and not removed
        self.taken = 0  # live labels handed to the builder so far

    def put(self, labels: Sequence[int], units: np.ndarray) -> None:
        """These labels' vectors (unit rows), new or replacing the staged ones."""
        idx = np.asarray(labels, dtype=np.int64)
        last, at = np.unique(idx[::-1], return_index=True)
        if len(last) < len(idx):  # a label given twice in one write: its last vector counts
            keep = np.sort(len(idx) - 1 - at)
            idx, units = idx[keep], units[keep]
        self._grow(int(idx.max()) + 1)
        self.live += int((self._page_of[idx] < 0).sum())
        self._supersede(idx)
        self._page_of[idx] = len(self._pages)
        self._row_of[idx] = np.arange(len(idx), dtype=np.int32)
        self._pages.append(units)
        self._page_live.append(len(idx))
        self._dim = units.shape[1]
        self._writes.append((idx, True))

    def drop(self, labels: Sequence[int]) -> None:
        """Removed: the builder deletes them from the graph in their turn."""
        idx = np.unique(np.asarray(labels, dtype=np.int64))  # a label given twice is removed once
        staged = self._page_of[idx] >= 0
        self.live -= int(staged.sum())
        self.taken -= int((staged & self._graphed[idx]).sum())
        self._supersede(idx)
        self._page_of[idx] = -1
        self._writes.append((idx, False))

    def rows(self, labels: Sequence[int]) -> np.ndarray:
        """The staged vectors of these labels (each must be staged)."""
        idx = np.asarray(labels, dtype=np.int64)
        out = np.empty((len(idx), self._dim), dtype=np.float32)
        pages = self._page_of[idx]
        for page in np.unique(pages):
            at = np.flatnonzero(pages == page)
            rows = self._pages[page]
            assert rows is not None, "a label's latest write is never on a freed page"
            out[at] = rows[self._row_of[idx[at]]]
        return out

    @property
    def held(self) -> int:
        """Pages still held (the rest were superseded and freed)."""
        return sum(page is not None for page in self._pages)

    @property
    def pending(self) -> bool:
        return bool(self._writes)

    def take(self, limit: int) -> Step:
        """The next writes for the graph, up to `limit` labels, with the vectors they add as they
        are now (a label written again since adds its latest vector; one removed since, nothing)."""
        step: Step = []
        count = 0
        while self._writes and count < limit:
            labels, added = self._writes.popleft()
            if len(labels) > limit - count:  # the rest stays first in line
                self._writes.appendleft((labels[limit - count :], added))
                labels = labels[: limit - count]
            count += len(labels)
            if not added:
                step.append((labels, None, False))
                continue
            labels = labels[self._page_of[labels] >= 0]
            known = self._graphed[labels]
            for part, new in ((labels[known], False), (labels[~known], True)):
                if len(part):
                    step.append((part, self.rows(part), new))
            self._graphed[labels] = True
            self.taken += int((~known).sum())
        return step

    def _supersede(self, idx: np.ndarray) -> None:
        """These labels' current rows are written again or removed: free the pages left with none."""
        current = self._page_of[idx]
        pages, counts = np.unique(current[current >= 0], return_counts=True)
        for page, count in zip(pages.tolist(), counts.tolist()):
            self._page_live[page] -= count
            if self._page_live[page] == 0:
                self._pages[page] = None

    def _grow(self, size: int) -> None:
        if size <= len(self._page_of):
            return
        capacity = max(size, 2 * len(self._page_of))
        self._page_of = np.concatenate([self._page_of, np.full(capacity - len(self._page_of), -1, dtype=np.int32)])
        self._row_of = np.concatenate([self._row_of, np.zeros(capacity - len(self._row_of), dtype=np.int32)])
        self._graphed = np.concatenate([self._graphed, np.zeros(capacity - len(self._graphed), dtype=bool)])
