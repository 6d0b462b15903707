"""Recently read memory rows by id, so that repeated searches skip a SQL round trip. Only
reads that ask for it (`get_many(..., recent=True)`: searches) are answered from here; reads by
id, deletes and the follower always read SQL.

A search reads its candidates' rows (`get_many`) after the index and the full-text index have
ranked them; the same memories come back again and again for one user, and the read cost ~2 ms
of a ~12 ms search through the real server (bench/server_bench.py). The repository forgets a
row here after every commit that touches it, on erase and reset, and when `changed_since`
reports it changed (another replica's write, seen by the follower). A read that started before
a commit finished may have read the old row: it is cached only when nothing was forgotten while
it ran (the generation check), so a stale row is never put back after its invalidation."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from memory.models import MemoryId, MemoryRecord


class RecordCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._rows: OrderedDict[MemoryId, MemoryRecord] = OrderedDict()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def lookup(self, ids: Sequence[MemoryId]) -> tuple[dict[MemoryId, MemoryRecord], list[MemoryId]]:
        """(the cached rows, the ids to read)."""
        found: dict[MemoryId, MemoryRecord] = {}
        missing: list[MemoryId] = []
        rows = self._rows
        for id in ids:
            record = rows.get(id)
            if record is None:
                missing.append(id)
            else:
                rows.move_to_end(id)
                found[id] = record
        return found, missing

    def fill(self, records: Iterable[MemoryRecord], read_at: int) -> None:
        """Keep rows read when the generation was `read_at`, unless anything was forgotten since."""
        if self._size <= 0 or read_at != self._generation:
            return
        rows = self._rows
        for record in records:
            rows[record.id] = record
            rows.move_to_end(record.id)
        while len(rows) > self._size:
            rows.popitem(last=False)

    def forget(self, ids: Iterable[MemoryId]) -> None:
        ids = list(ids)
        if not ids:  # nothing changed: reads in flight may still keep what they read
            return
        self._generation += 1
        for id in ids:
            self._rows.pop(id, None)

    def clear(self) -> None:
        self._generation += 1
        self._rows.clear()
