"""An int8 copy of the index's vectors, for exact scans of small allowed sets.

hnswlib hands stored vectors back only through `get_items`, which builds a Python float per
component (~19 us a 384-d vector here): an exact scan of a 2,000-memory scope cost ~40 ms that
way, against ~0.5 ms from a NumPy matrix. Rows are copied when a vector is written, and saved
with the index's snapshot (vector/files.py); a snapshot saved without them has them copied from
hnswlib in the background after it loads (~2.9 s of CPU at 100k), and a label not copied yet is
read from hnswlib by the scan that needs it.

Each row is stored as int8 with its own scale (the row's largest component / 127): 37 MB at 100k
x 384, half of the float16 copy it replaced. Ranking by it moves cosine scores by at most ~2e-3
(measured on 100k MiniLM vectors). An exact scan re-scores its final top k (plus a margin) from
hnswlib; on 400 queries over 2,000-memory scopes of near-duplicate texts the exact top 10 came
out the same as with float16 and as an exact scan (LoCoMo recall through bench/recall_quality.py
unchanged). Hybrid search ranks by the copy alone and scores only its hits exactly
(memory/searcher.py), which left LoCoMo recall unchanged too.

Labels are never reused (every add takes a new one), so rows are slots: a removed vector's slot
goes to the next one written, and the copy grows with the live vectors, not with churn (only the
label -> slot table, 4 bytes a label, follows every label ever issued).

Rows go wherever a slot is free, so one scope's rows end up spread over the whole copy: a
2,000-row scan at 100k memories then read its rows from across 37 MB (~0.40 ms in-process,
~0.58 ms of the loop's time under 16 concurrent searches). `arrange` lays the rows out again in
an order the caller gives (one owner's memories together), after which that scan reads one
stretch (~0.19 ms in-process). While a scope's rows are exactly such a stretch (no add or
removal in it since the arrangement) they are scored where they lie rather than copied out
first (a 2,000-row scan at 100k: ~142 us against ~161 us in-process). Gathers use `np.take`,
which copies rows ~2x faster than indexing with an index array.

Only `put`, `put_rows`, `forget`, `copy`, `arrange`, `arranging` and `adopt` write, and they run
under the index's exclusive lock; `scores`, `gather`, `rows_of` and `in_slot_order` run under the
shared lock and only read. `lay_out` runs under no lock: the rows written while it reads are noted
in the arrangement begun before it, and `adopt` copies them again. So the index lays its copy out
while searches and writes go on and only swaps it in exclusively (at 100k rows: ~0.2 s of
searches and writes held up otherwise)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

Fetch = Callable[[list[int]], np.ndarray]
_LEVELS = 127.0
# rows written between an arrangement and its adoption that are copied over; past this many it
# is made again instead
_CATCH_UP_MAX = 20_000
_BLOCK = 512  # rows widened to float32 at once (768 KB: within a core's cache)


class VectorMirror:
    def __init__(self, dimension: int, capacity: int = 1024) -> None:
        self._dim = dimension
        self._rows = np.zeros((max(1, capacity), dimension), dtype=np.int8)
        self._scale = np.zeros(max(1, capacity), dtype=np.float32)  # row = int8 values * scale
        self._slot_of = np.full(max(1, capacity), -1, dtype=np.int32)  # label -> slot, -1: none
        self._free: list[int] = []
        self._used = 0  # slots handed out so far (the free list holds the released ones)
        self._making: Arrangement | None = None  # the arrangement made last, until adopted

    def put(self, labels: Sequence[int], matrix: np.ndarray) -> None:
        self._written(labels)
        slots = self._slots_for(labels)
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        scale = np.abs(unit).max(axis=1) / _LEVELS  # > 0: the index only takes non-zero vectors
        self._rows[slots] = np.rint(unit / scale[:, None]).astype(np.int8)
        self._scale[slots] = scale

    def put_rows(self, labels: Sequence[int], rows: np.ndarray, scale: np.ndarray) -> None:
        """Take rows as `rows_of` gave them (a saved copy): no quantising again."""
        self._written(labels)
        slots = self._slots_for(labels)
        self._rows[slots] = rows
        self._scale[slots] = scale

    def rows_of(self, labels: Sequence[int]) -> tuple[Iterator[np.ndarray], np.ndarray] | None:
        """These labels' rows, in their order, as views of each run of them that lies together
        in the copy (listed in slot order, they come out as a few long runs, and a save writes
        them with no gathered copy), and their scales; None when one is not mirrored yet. The
        views see later writes: read them while the rows stand."""
        slots = self._slots(labels)
        if bool((slots < 0).any()):
            return None
        bounds = [0, *(np.flatnonzero(np.diff(slots) != 1) + 1).tolist(), len(slots)]
        rows = (self._rows[slots[a] : slots[a] + (b - a)] for a, b in zip(bounds, bounds[1:]) if b > a)
        return rows, np.take(self._scale, slots)

    def copy(self, labels: Sequence[int], fetch: Fetch) -> None:
        """Copy in the labels not mirrored yet, reading them with `fetch`."""
        missing = [label for label in labels if not self._has(label)]
        if missing:
            self.put(missing, np.asarray(fetch(missing), dtype=np.float32))

    def forget(self, label: int) -> None:
        self._written((label,))
        if label < len(self._slot_of) and (slot := int(self._slot_of[label])) >= 0:
            self._slot_of[label] = -1
            self._free.append(slot)

    def scores(self, labels: Sequence[int] | np.ndarray, query: np.ndarray, fetch: Fetch) -> np.ndarray:
        """Cosine similarity of `query` (unit length) with each label's vector, to ~2e-3; `fetch`
        reads the ones not mirrored yet. Rows are widened to float32 a block at a time, so the
        temporary stays in cache: a 2,000-row scope took ~0.4 ms this way, ~0.9 ms when the
        whole float32 matrix was built first."""
        idx = np.asarray(labels, dtype=np.int64)
        slots = self._slots(idx)
        missing = np.flatnonzero(slots < 0)
        if len(missing):
            slots[missing] = 0  # scored below from `fetch`; any slot will do meanwhile
        rows = self._stretch(slots)
        out = (rows if rows is not None else self._gathered(slots)).scores(query)
        if len(missing):
            vectors = np.asarray(fetch([int(idx[i]) for i in missing]), dtype=np.float32)
            out[missing] = (vectors @ query) / np.linalg.norm(vectors, axis=1)
        return out

    def gather(self, labels: np.ndarray) -> Gathered | None:
        """A contiguous copy of these labels' rows, scored later without gathering them then
        (None when one is not mirrored yet)."""
        slots = self._slots(labels)
        if not len(slots) or bool((slots < 0).any()):
            return None
        return self._gathered(slots)

    def in_slot_order(self, labels: np.ndarray) -> np.ndarray:
        """These labels sorted by where their rows lie (labels not mirrored yet last): a scan
        that gathers them in this order reads the copy front to back."""
        if not len(labels):
            return labels
        slots = self._slots(labels)
        slots[slots < 0] = np.iinfo(np.int32).max
        return labels[np.argsort(slots, kind="stable")]

    def arrange(self, labels: np.ndarray) -> None:
        """Lay the rows out again: these labels' rows first, in this order, then every other
        mirrored row. Labels not mirrored, or listed twice, are passed over. Scores do not
        change."""
        self.adopt(self.lay_out(self.arranging(), labels))

    def arranging(self) -> Arrangement:
        """Begin an arrangement: from now on the rows written are noted in it (and an earlier
        one not adopted yet is dropped)."""
        self._making = Arrangement()
        return self._making

    def lay_out(self, arrangement: Arrangement, labels: np.ndarray) -> Arrangement:
        """Make `arrange`'s new layout, beside the current one, which it leaves as it is (~0.2 s
        at 100k rows, most of it the first touches of the new copy's pages). It only reads, and
        needs no lock: a row written meanwhile may be copied half old, or not at all, but it is
        noted in `arrangement`, and `adopt` copies it again."""
        slot_of, source, source_scale = self._slot_of, self._rows, self._scale  # a write may replace them
        labels = np.asarray(labels, dtype=np.int64)
        labels = labels[(labels >= 0) & (labels < len(slot_of))]
        labels = labels[slot_of[labels] >= 0]
        _, first = np.unique(labels, return_index=True)
        listed = labels[np.sort(first)]
        unlisted = np.ones(len(slot_of), dtype=bool)
        unlisted[listed] = False
        order = np.concatenate([listed, np.flatnonzero(unlisted & (slot_of >= 0))])
        old = slot_of[order].astype(np.int64)
        # np.zeros, not zeros_like: calloc'd, so the slots past the rows copied take no memory
        size = max(len(source), len(order))  # rows added meanwhile may have outgrown the copy read
        rows = np.zeros((size, self._dim), dtype=source.dtype)
        scale = np.zeros(size, dtype=source_scale.dtype)
        # clip: a slot written meanwhile may lie past the copy read (its row is copied again)
        np.take(source, old, axis=0, out=rows[: len(order)], mode="clip")  # no 37 MB temporary at 100k
        np.take(source_scale, old, out=scale[: len(order)], mode="clip")
        arrangement.order, arrangement.rows, arrangement.scale = order, rows, scale
        return arrangement

    def adopt(self, arrangement: Arrangement) -> bool:
        """Take the layout `lay_out` made, with the rows written since `arranging` (copied over: O(those
        rows)); the old copy is freed then. False when it is not the latest this mirror made, or
        more rows were written since than it keeps track of (the mirror is left as it was)."""
        if arrangement is not self._making or arrangement.written is None or arrangement.rows is None:
            return False
        self._making = None
        written = np.fromiter(arrangement.written, dtype=np.int64, count=len(arrangement.written))
        slots = self._slots(written)
        live, held = written[slots >= 0], slots[slots >= 0]
        rows, scale = np.take(self._rows, held, axis=0), np.take(self._scale, held)
        if len(written):
            inside = written[written < len(self._slot_of)]
            self._slot_of[inside] = -1  # slots of the old copy; those listed get new ones below
        order = arrangement.order
        self._slot_of[order] = np.arange(len(order), dtype=np.int32)
        self._rows, self._scale = arrangement.rows, arrangement.scale  # type: ignore[assignment]
        self._used = len(order)
        self._free = []
        for label in written[slots < 0].tolist():  # gone since: listed in the layout, given a slot above
            self.forget(label)
        if len(live):  # rewritten, or new since: from their rows in the old copy
            self.put_rows(live.tolist(), rows, scale)
        return True

    def _written(self, labels: Sequence[int]) -> None:
        """Note labels whose rows change while an arrangement waits to be adopted."""
        making = self._making
        if making is not None and making.written is not None:
            making.written.update(labels)
            if len(making.written) > _CATCH_UP_MAX:
                making.written = None  # adopting it would cost what arranging again does

    def _slots(self, labels: Sequence[int] | np.ndarray) -> np.ndarray:
        """Each label's slot (a new int64 array), -1 for a label not mirrored yet (one past the
        table included)."""
        idx = np.asarray(labels, dtype=np.int64)
        if len(idx) and int(idx.max()) < len(self._slot_of):
            return self._slot_of[idx].astype(np.int64)
        slots = np.full(len(idx), -1, dtype=np.int64)
        inside = idx < len(self._slot_of)
        slots[inside] = self._slot_of[idx[inside]]
        return slots

    def _gathered(self, slots: np.ndarray) -> Gathered:
        return Gathered(np.take(self._rows, slots, axis=0), np.take(self._scale, slots))

    def _stretch(self, slots: np.ndarray) -> Gathered | None:
        """The rows of `slots` as a view of the copy, when they are one stretch of it in order (a
        scope's rows after `arrange`, listed in slot order): scored in place, not copied out
        first (~19 us of a 2,000-row scan). None otherwise. Only for scoring at once, under the
        lock: a write may change a viewed row later."""
        n = len(slots)
        if n < 2 or int(slots[-1]) - int(slots[0]) != n - 1 or not bool((slots[1:] > slots[:-1]).all()):
            return None  # increasing and n - 1 apart end to end: every slot between, once
        first = int(slots[0])
        return Gathered(self._rows[first : first + n], self._scale[first : first + n])

    def _has(self, label: int) -> bool:
        return label < len(self._slot_of) and bool(self._slot_of[label] >= 0)

    def _slots_for(self, labels: Sequence[int]) -> np.ndarray:
        if not len(labels):
            return np.empty(0, dtype=np.int64)
        top = max(labels) + 1
        if top > len(self._slot_of):
            grown = np.full(max(top, 2 * len(self._slot_of)), -1, dtype=np.int32)
            grown[: len(self._slot_of)] = self._slot_of
            self._slot_of = grown
        idx = np.asarray(labels, dtype=np.int64)
        if not self._free and bool((self._slot_of[idx] < 0).all()) and len(np.unique(idx)) == len(idx):
            # all new (a rebuild's pages, a loaded copy): the next slots in one step
            self._reserve(len(idx))
            fresh = np.arange(self._used, self._used + len(idx), dtype=np.int64)
            self._slot_of[idx] = fresh
            self._used += len(idx)
            return fresh
        slots = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            slot = int(self._slot_of[label])
            if slot < 0:
                slot = self._free.pop() if self._free else self._next_slot()
                self._slot_of[label] = slot
            slots[i] = slot
        return slots

    def _next_slot(self) -> int:
        self._reserve(1)
        self._used += 1
        return self._used - 1

    def _reserve(self, n: int) -> None:
        """Room for n more rows; doubling keeps the (copying) resizes logarithmic."""
        if self._used + n <= len(self._rows):
            return
        size = max(2 * len(self._rows), self._used + n)
        rows = np.zeros((size, self._dim), dtype=np.int8)
        rows[: len(self._rows)] = self._rows
        scale = np.zeros(size, dtype=np.float32)
        scale[: len(self._scale)] = self._scale
        self._rows, self._scale = rows, scale


@dataclass(eq=False, slots=True)
class Arrangement:
    """A new layout of a mirror's rows (VectorMirror.lay_out), and the labels written since it
    was begun (None: too many to catch up with)."""

    order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # labels, in their new slots' order
    rows: np.ndarray | None = None
    scale: np.ndarray | None = None
    written: set[int] | None = field(default_factory=set)


class Gathered:
    """Some labels' mirrored rows, copied together in their order (a search gathers its scope's
    rows while its query is embedded: scored from here they are contiguous and recently read).
    A copy: later writes to the mirror do not reach it, so it holds only while those labels do
    (VectorMirror.scores also scores a view of one stretch of the copy through it, at once)."""

    def __init__(self, rows: np.ndarray, scale: np.ndarray) -> None:
        self._rows = rows
        self._scale = scale

    def __len__(self) -> int:
        return len(self._scale)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """As VectorMirror.scores, for every row in order."""
        out = np.empty(len(self._scale), dtype=np.float32)
        for start in range(0, len(out), _BLOCK):
            end = start + _BLOCK
            out[start:end] = _scored(self._rows[start:end], self._scale[start:end], query)
        return out


def _scored(rows: np.ndarray, scale: np.ndarray, query: np.ndarray) -> np.ndarray:
    # widened a block at a time: the float32 temporary stays in cache
    return (rows.astype(np.float32) @ query) * scale
