"""In-memory owner table: memory id -> (scope, valid), so searches filter without SQL.

Rebuilt from SQL at start (`MemoryRepository.catalog`) and kept in step by the service."""
from __future__ import annotations

import sys
from typing import Callable, Iterable

from memory.models import MemoryId, Scope
from memory.ports import CatalogRow


def _intern(value: str | None) -> str | None:
    # many memories share owners; interning keeps 100k entries small
    return sys.intern(value) if value is not None else None


class ScopeCatalog:
    def __init__(self) -> None:
        self._rows: dict[MemoryId, tuple[str | None, str | None, str | None, bool]] = {}

    def load(self, rows: Iterable[CatalogRow]) -> None:
        self._rows.clear()
        for row in rows:
            self.put(row.id, row.scope, row.valid)

    def put(self, id: MemoryId, scope: Scope, valid: bool) -> None:
        self._rows[id] = (_intern(scope.user_id), _intern(scope.agent_id), _intern(scope.run_id), valid)

    def drop(self, id: MemoryId) -> None:
        self._rows.pop(id, None)

    def clear(self) -> None:
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, id: object) -> bool:
        return id in self._rows

    def ids(self) -> set[MemoryId]:
        return set(self._rows)

    def allow(self, scope: Scope, include_invalidated: bool) -> Callable[[MemoryId], bool]:
        """A predicate for the vector index: inside `scope` (prefix semantics) and valid."""
        rows = self._rows
        u, a, r = scope.user_id, scope.agent_id, scope.run_id

        def allowed(id: MemoryId) -> bool:
            row = rows.get(id)
            if row is None:
                return False
            return (
                (u is None or row[0] == u)
                and (a is None or row[1] == a)
                and (r is None or row[2] == r)
                and (include_invalidated or row[3])
            )

        return allowed

    def count_in(self, scope: Scope, include_invalidated: bool) -> int:
        allowed = self.allow(scope, include_invalidated)
        return sum(1 for id in self._rows if allowed(id))
