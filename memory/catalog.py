"""In-memory owner table: memory id -> (scope, valid), so searches filter without SQL.

Rebuilt from SQL at start (`MemoryRepository.catalog`) and kept in step by the service.
Secondary sets per user, agent and run let a scoped search hand the vector index the exact
set of allowed ids (which it can use to plan the search) instead of a slow per-node callback."""
from __future__ import annotations

import sys
from typing import Callable, Iterable

from memory.models import MemoryId, MemoryRecord, Scope
from memory.ports import Allow, CatalogRow

# above this share of all memories, a per-id predicate beats building an allowed set
_SET_MAX_SHARE = 0.3


def _intern(value: str | None) -> str | None:
    # many memories share owners; interning keeps 100k entries small
    return sys.intern(value) if value is not None else None


def admits(scope: Scope, record: MemoryRecord, include_invalidated: bool) -> bool:
    """Whether a read in `scope` may return `record`. `ScopeCatalog.allow` answers for the moment
    it is asked (None: the caller owns every row); rows written by others while a search awaits
    the index or SQL must not slip through, so results are checked again with this."""
    return scope.contains(record.scope) and (include_invalidated or record.valid)


class ScopeCatalog:
    def __init__(self) -> None:
        # id -> owner number * 2 + valid: owners repeat, so rows stay small ints (100k rows in
        # a few MB instead of a tuple each)
        self._rows: dict[MemoryId, int] = {}
        self._owners: list[tuple[str | None, str | None, str | None]] = []
        self._owner_no: dict[tuple[str | None, str | None, str | None], int] = {}
        self._by: tuple[dict[str, set[MemoryId]], ...] = ({}, {}, {})  # user, agent, run
        self._invalid: set[MemoryId] = set()

    def load(self, rows: Iterable[CatalogRow]) -> None:
        self.clear()
        for row in rows:
            self.put(row.id, row.scope, row.valid)

    def put(self, id: MemoryId, scope: Scope, valid: bool) -> None:
        self.drop(id)
        id = sys.intern(id)  # shared with the vector index's id table
        owners = (_intern(scope.user_id), _intern(scope.agent_id), _intern(scope.run_id))
        number = self._owner_no.get(owners)
        if number is None:
            number = self._owner_no[owners] = len(self._owners)
            self._owners.append(owners)
        self._rows[id] = number * 2 + int(valid)
        for i, owner in enumerate(owners):
            if owner is not None:
                self._by[i].setdefault(owner, set()).add(id)
        if not valid:
            self._invalid.add(id)

    def drop(self, id: MemoryId) -> None:
        code = self._rows.pop(id, None)
        if code is None:
            return
        for i, owner in enumerate(self._owners[code >> 1]):
            if owner is not None:
                members = self._by[i][owner]
                members.discard(id)
                if not members:
                    del self._by[i][owner]
        self._invalid.discard(id)

    def clear(self) -> None:
        self._rows.clear()
        self._owners.clear()
        self._owner_no.clear()
        for index in self._by:
            index.clear()
        self._invalid.clear()

    def __contains__(self, id: object) -> bool:
        return id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> set[MemoryId]:
        return set(self._rows)

    def _predicate(self, scope: Scope, include_invalidated: bool) -> Callable[[MemoryId], bool]:
        rows, owners = self._rows, self._owners
        u, a, r = scope.user_id, scope.agent_id, scope.run_id

        def allowed(id: MemoryId) -> bool:
            code = rows.get(id)
            if code is None:
                return False
            owner = owners[code >> 1]
            return (
                (u is None or owner[0] == u)
                and (a is None or owner[1] == a)
                and (r is None or owner[2] == r)
                and (include_invalidated or bool(code & 1))
            )

        return allowed

    def allow(self, scope: Scope, include_invalidated: bool) -> Allow:
        """What the vector index should accept for a search in `scope`: None for everything,
        the exact allowed set when the scope is a small share, else a per-id predicate."""
        given = [(i, v) for i, v in enumerate((scope.user_id, scope.agent_id, scope.run_id)) if v is not None]
        if not given:
            if include_invalidated or not self._invalid:
                return None
            return self._predicate(scope, include_invalidated)
        pools = sorted((self._by[i].get(v, set()) for i, v in given), key=len)
        smallest = pools[0]
        if len(given) == 1 and len(smallest) == len(self._rows) and (include_invalidated or not self._invalid):
            return None
        if len(smallest) > _SET_MAX_SHARE * max(len(self._rows), 1):
            return self._predicate(scope, include_invalidated)
        allowed = smallest.intersection(*pools[1:]) if len(pools) > 1 else set(smallest)
        if not include_invalidated and self._invalid:
            allowed -= self._invalid
        return allowed

    def size_hint(self, scope: Scope) -> int:
        """Memories (valid or not) a read in `scope` may see, in O(1): exact for a scope with one
        field set, an upper bound (the smallest owner's count) for more, every row for none."""
        given = [self._by[i].get(v, ()) for i, v in enumerate((scope.user_id, scope.agent_id, scope.run_id))
                 if v is not None]
        return min(map(len, given)) if given else len(self._rows)

    def owners_in(self, scope: Scope) -> dict[tuple[str, str], int]:
        """Valid memories per owner id inside `scope`: {("user" | "agent" | "run", id): count}."""
        allowed = self._predicate(scope, include_invalidated=False)
        counts: dict[tuple[str, str], int] = {}
        for id, code in self._rows.items():
            if allowed(id):
                for kind, owner in zip(("user", "agent", "run"), self._owners[code >> 1]):
                    if owner is not None:
                        counts[(kind, owner)] = counts.get((kind, owner), 0) + 1
        return counts
