"""In-memory owner table: memory id -> (scope, valid), so searches filter without SQL.

Rebuilt from SQL at start (`MemoryRepository.catalog`) and kept in step by the service.
Secondary sets per user, agent and run let a scoped search hand the vector index the exact
set of allowed ids (which it can use to plan the search) instead of a slow per-node callback.
Memories with an expiry are also kept here: from that moment every read leaves them out, before
the sweep (memory/expiry.py) writes their end."""
from __future__ import annotations

import heapq
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from operator import itemgetter

from memory.models import MemoryId, MemoryRecord, Scope, utcnow
from memory.ports import Allow, CatalogRow, ScopeIds

# above this share of all memories, a per-id predicate beats building an allowed set
_SET_MAX_SHARE = 0.3
ALLOWED_KEPT = 64  # scopes whose allowed set is kept between searches (sets of small scopes only)
# an owner's id set up to this size is itself the allowed set handed out (frozen) until its next
# write copies it back: one copy of a searched scope's ids instead of two (3 MiB at 100k memories
# in 50 scopes), for one more copy (~0.1 ms at this size) when writes and searches alternate
_SHARED_POOL_MAX = 8_192
_OWNER_FIELDS = ("user_id", "agent_id", "run_id")  # what the three owner indexes (_by) are by
FILL_PAGE = 2_000  # rows read from SQL per page when the catalog is (re)built


def _intern(value: str | None) -> str | None:
    # many memories share owners; interning keeps 100k entries small
    return sys.intern(value) if value is not None else None


def admits(scope: Scope, record: MemoryRecord, include_invalidated: bool, now: datetime) -> bool:
    """Whether a read in `scope` at `now` may return `record`. `ScopeCatalog.allow` answers for the
    moment it is asked (None: the caller owns every row); rows written by others while a search
    awaits the index or SQL must not slip through, so results are checked again with this. An
    expired memory counts as invalidated (include_invalidated shows it, as it will once swept)."""
    return scope.contains(record.scope) and (include_invalidated or record.live(now))


class ScopeCatalog:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.now = clock  # what "expired" is measured against (tests pass a fake clock)
        # id -> owner number * 2 + valid: owners repeat, so rows stay small ints (100k rows in
        # a few MB instead of a tuple each)
        self._rows: dict[MemoryId, int] = {}
        self._owners: list[tuple[str | None, str | None, str | None]] = []
        self._owner_no: dict[tuple[str | None, str | None, str | None], int] = {}
        # user, agent, run; a frozen set is the one handed out by `allow` (copied on the next write)
        self._by: tuple[dict[str, set[MemoryId] | frozenset[MemoryId]], ...] = ({}, {}, {})
        self._invalid: set[MemoryId] = set()
        self._expires: dict[MemoryId, datetime] = {}  # only the valid memories that have an expiry
        self._next_expiry: datetime | None = None  # the earliest of them; None: none, or to be found again
        # allowed sets handed out, by (scope, include_invalidated), until a write inside that scope
        # (`_forget_allowed`): every search of a scope would otherwise copy its whole id set, and
        # one tenant's writes would make every other tenant's next search pay for that again
        self._allowed: dict[tuple[Scope, bool], ScopeIds] = {}

    async def fill(self, pages: Callable[[MemoryId | None, int], Awaitable[Sequence[CatalogRow]]]) -> None:
        """Rebuild from SQL a page at a time (`MemoryRepository.catalog`), then take the result
        over at once, so that searches meanwhile see the old catalog, never a part of the new.
        Nothing may write meanwhile (the caller holds the write gate, or nothing writes yet): a
        put() into the old catalog would be lost. The rows of every memory read at once (100k:
        ~10 MiB) were freed around the ids kept here, and Python's allocator cannot give such
        half-used pools back to the OS."""
        fresh = ScopeCatalog(self.now)
        after: MemoryId | None = None
        while True:
            rows = await pages(after, FILL_PAGE)
            for row in rows:
                fresh.put(row.id, row.scope, row.valid, row.expires_at)
            if len(rows) < FILL_PAGE:
                break
            after = rows[-1].id
        for index in fresh._by:
            for owner, members in index.items():
                # a set grown one add at a time has up to twice the table a copy sizes for its
                # members (2,000 ids: 128 KiB against 64 KiB)
                index[owner] = set(members)
        vars(self).update(vars(fresh))

    def put(self, id: MemoryId, scope: Scope, valid: bool, expires_at: datetime | None = None) -> None:
        self.drop(id)
        id = sys.intern(id)  # shared with the vector index's id table
        owners = (_intern(scope.user_id), _intern(scope.agent_id), _intern(scope.run_id))
        self._forget_allowed(scope)
        number = self._owner_no.get(owners)
        if number is None:
            number = self._owner_no[owners] = len(self._owners)
            self._owners.append(owners)
        self._rows[id] = number * 2 + int(valid)
        for i, owner in enumerate(owners):
            if owner is not None:
                self._pool(i, owner).add(id)
        if not valid:
            self._invalid.add(id)
        elif expires_at is not None:
            self._expires[id] = expires_at
            if self._next_expiry is not None and expires_at < self._next_expiry:
                self._next_expiry = expires_at
            elif len(self._expires) == 1:
                self._next_expiry = expires_at

    def ids_by_owner(self) -> list[MemoryId]:
        """Every id, one owner's together, owners sorted by user, agent and run (so a user's
        agents and runs lie side by side too): the order the vector index lays its scan copy
        out in (VectorIndex.arrange). ~10 ms at 100k memories."""
        groups: list[list[MemoryId]] = [[] for _ in self._owners]
        for id, code in self._rows.items():
            groups[code >> 1].append(id)
        ranked = sorted(range(len(self._owners)),
                        key=lambda n: tuple("" if part is None else part for part in self._owners[n]))
        return [id for n in ranked for id in groups[n]]

    def drop(self, id: MemoryId) -> None:
        code = self._rows.pop(id, None)
        if code is None:
            return
        if self._allowed:
            self._forget_allowed(Scope(*self._owners[code >> 1]))
        for i, owner in enumerate(self._owners[code >> 1]):
            if owner is not None:
                members = self._pool(i, owner)
                members.discard(id)
                if not members:
                    del self._by[i][owner]
        self._invalid.discard(id)
        if self._expires.pop(id, None) == self._next_expiry:
            self._next_expiry = None  # found again when next asked

    def _pool(self, i: int, owner: str) -> set[MemoryId]:
        """The owner's id set, to change: a copy of it if it was handed out."""
        members = self._by[i].get(owner)
        if members is None or isinstance(members, frozenset):
            members = self._by[i][owner] = set(members or ())
        return members

    def _forget_allowed(self, owner: Scope) -> None:
        """Drop the allowed sets kept for the scopes that a memory owned by `owner` falls inside."""
        for key in [key for key in self._allowed if key[0].contains(owner)]:
            del self._allowed[key]

    def clear(self) -> None:
        self._allowed.clear()
        self._rows.clear()
        self._owners.clear()
        self._owner_no.clear()
        for index in self._by:
            index.clear()
        self._invalid.clear()
        self._expires.clear()
        self._next_expiry = None

    def expired(self, now: datetime | None = None) -> set[MemoryId]:
        """Valid memories whose expiry has come (the sweep has not written their end yet)."""
        if not self._expires:
            return set()
        now = now or self.now()
        if self._next_expiry is None:
            self._next_expiry = min(self._expires.values())
        if self._next_expiry > now:
            return set()  # the common case costs one comparison
        return {id for id, at in self._expires.items() if at <= now}

    def _gone(self) -> set[MemoryId] | frozenset[MemoryId]:
        """What a read without include_invalidated must not see: invalidated or expired."""
        expired = self.expired()
        return self._invalid | expired if expired else self._invalid

    def __contains__(self, id: object) -> bool:
        return id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> set[MemoryId]:
        return set(self._rows)

    def predicate(self, scope: Scope, include_invalidated: bool) -> Callable[[MemoryId], bool]:
        """Whether a read in `scope` may return a memory id, as known here now (see `admits`)."""
        rows, owners = self._rows, self._owners
        expired = set() if include_invalidated else self.expired()
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
                and (include_invalidated or (bool(code & 1) and id not in expired))
            )

        return allowed

    def allow(self, scope: Scope, include_invalidated: bool) -> Allow:
        """What the vector index should accept for a search in `scope`: None for everything,
        the exact allowed set when the scope is a small share, else a per-id predicate."""
        given = [(i, v) for i, v in enumerate((scope.user_id, scope.agent_id, scope.run_id)) if v is not None]
        gone = frozenset() if include_invalidated else self._gone()
        if not given:
            return self.predicate(scope, include_invalidated) if gone else None
        pools = sorted((self._by[i].get(v, set()) for i, v in given), key=len)
        smallest = pools[0]
        if len(given) == 1 and len(smallest) == len(self._rows) and not gone:
            return None
        if len(smallest) > _SET_MAX_SHARE * max(len(self._rows), 1):
            return self.predicate(scope, include_invalidated)
        key = (scope, include_invalidated)
        kept = self._allowed.get(key)
        if kept is not None and not self._expires:
            return kept
        if isinstance(smallest, ScopeIds) and smallest.scope == key and len(given) == 1 and not gone:
            frozen = smallest  # handed out before and not written since (_pool): still exact, no copy
        else:
            members = smallest.intersection(*pools[1:]) if len(pools) > 1 else smallest
            # frozen (one copy): the index's thread reads it while this thread writes the catalog
            frozen = ScopeIds(members - gone if gone else members, key)
            if len(given) == 1 and not gone and 0 < len(frozen) <= _SHARED_POOL_MAX:  # 0: no such owner
                self._by[given[0][0]][given[0][1]] = frozen  # the same ids: keep one copy (see _pool)
        if not self._expires:  # with expiries, the hour can change the set without a write
            if len(self._allowed) >= ALLOWED_KEPT:
                self._allowed.pop(next(iter(self._allowed)))
            self._allowed[key] = frozen
        return frozen

    def live(self, id: MemoryId) -> bool:
        """Known here, valid and not expired (the lexical and graph channels' answers are checked with it)."""
        code = self._rows.get(id)
        if code is None or not code & 1:
            return False
        at = self._expires.get(id)
        return at is None or at > self.now()

    def size_hint(self, scope: Scope) -> int:
        """Memories (valid or not) a read in `scope` may see, in O(1): exact for a scope with one
        field set, an upper bound (the smallest owner's count) for more, every row for none."""
        given = [self._by[i].get(v, ()) for i, v in enumerate((scope.user_id, scope.agent_id, scope.run_id))
                 if v is not None]
        return min(map(len, given)) if given else len(self._rows)

    def largest_scopes(self, count: int, most: int) -> list[Scope]:
        """The `count` single-owner scopes (one user, agent or run) with the most memories, up to
        `most`, among those a search is handed an allowed set for (`allow`), largest first."""
        limit = min(_SET_MAX_SHARE * max(len(self._rows), 1), most)
        sized = ((len(members), i, owner) for i, pools in enumerate(self._by) for owner, members in pools.items()
                 if len(members) <= limit)
        return [Scope(**{_OWNER_FIELDS[i]: owner}) for _, i, owner in heapq.nlargest(count, sized, key=itemgetter(0))]

    def owners_in(self, scope: Scope) -> dict[tuple[str, str], int]:
        """Valid memories per owner id inside `scope`: {("user" | "agent" | "run", id): count}."""
        allowed = self.predicate(scope, include_invalidated=False)
        counts: dict[tuple[str, str], int] = {}
        for id, code in self._rows.items():
            if allowed(id):
                for kind, owner in zip(("user", "agent", "run"), self._owners[code >> 1]):
                    if owner is not None:
                        counts[(kind, owner)] = counts.get((kind, owner), 0) + 1
        return counts
