"""Reading memories back: get, search (by meaning, with exact filters), list, history."""
from __future__ import annotations

import asyncio
import logging
import math
import re
from datetime import datetime
from typing import Sequence

from memory.catalog import ScopeCatalog, admits
from memory.errors import InvalidInput, NotFound, StoreUnavailable
from memory.extraction import normalise_name
from memory.filters import Filter, check_size, select
from memory.observe import observed
from memory.models import HistoryEntry, MemoryRecord, Relation, Scope
from memory.pagination import decode_cursor, encode_cursor
from memory.ports import Embedder, GraphStore, MemoryRepository, Order, PageCursor, VectorIndex
from memory.results import MemoryPage, Owner, SearchHit, SearchResult
from memory.validation import check_text

log = logging.getLogger(__name__)

_WORD = re.compile(r"[\w'’-]+")


class RecallMixin:
    """The read side of MemoryService (which provides these attributes)."""

    _repo: MemoryRepository
    _index: VectorIndex
    _embedder: Embedder
    _graph: GraphStore | None
    _catalog: ScopeCatalog
    max_limit: int
    scan_budget: int  # records one filtered search or list may read before it answers with what it found

    async def get(self, id: str) -> MemoryRecord:
        rec = await self._repo.get(id) if isinstance(id, str) and id else None
        if rec is None:
            raise NotFound(f"memory {id!r} does not exist")
        return rec

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        return await self._repo.get_many(list(ids))

    def _limit(self, limit: int, what: str = "limit") -> int:
        if not isinstance(limit, int) or limit < 1 or limit > self.max_limit:
            raise InvalidInput(f"{what} must be between 1 and {self.max_limit}")
        return limit

    @observed("search")
    async def search(
        self,
        query: str,
        scope: Scope,
        *,
        filters: Filter | None = None,
        limit: int = 10,
        threshold: float | None = None,
        include_invalidated: bool = False,
    ) -> SearchResult:
        scope.require()
        query = check_text(query, "query")
        limit = self._limit(limit)
        check_size(filters)
        if threshold is not None and not (-1.0 <= threshold <= 1.0 and math.isfinite(threshold)):
            raise InvalidInput("threshold must be between -1 and 1 (cosine similarity)")
        async with asyncio.TaskGroup() as tg:
            hits_task = tg.create_task(self._vector_hits(query, scope, filters, limit, include_invalidated))
            rel_task = tg.create_task(self._query_relations(query, scope))
        hits = [h for h in hits_task.result() if threshold is None or h.score >= threshold]
        return SearchResult(hits, rel_task.result())

    async def _vector_hits(
        self, query: str, scope: Scope, filters: Filter | None, limit: int, include_invalidated: bool
    ) -> list[SearchHit]:
        vec = (await self._embedder.embed([query], scope.tenant))[0]
        allow = self._catalog.allow(scope, include_invalidated)
        k = limit if filters is None else min(limit * 4, max(limit, self.scan_budget))
        while True:
            pairs = await self._index.nearest(vec, k, allow)
            records = await self._repo.get_many([id for id, _ in pairs])
            scores = dict(pairs)
            owned = (records[id] for id, _ in pairs if id in records and admits(scope, records[id], include_invalidated))
            kept = await select(filters, owned)
            hits = [SearchHit(r, scores[r.id]) for r in kept]
            # widen until `limit` hits pass the filter, the scope is exhausted or the scan budget is
            # spent (then the best matches among the nearest `scan_budget` are the answer)
            if len(hits) >= limit or len(pairs) < k or k >= self.scan_budget:
                return hits[:limit]
            k = min(k * 4, self.scan_budget)

    async def _query_relations(self, query: str, scope: Scope) -> list[Relation]:
        if self._graph is None:
            return []
        words = [w.casefold() for w in _WORD.findall(query)]
        names = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
        if {"i", "me", "my", "mine", "myself"} & set(words) and scope.user_id:
            names.add(normalise_name(scope.user_id))
        try:
            return await self._graph.relations_for(scope, sorted(names)[:200])
        except StoreUnavailable as exc:
            log.warning("graph unavailable during search; returning no relations: %s", exc)
            return []

    @observed("list")
    async def list_memories(
        self,
        scope: Scope | None,
        *,
        filters: Filter | None = None,
        first: int = 20,
        after: str | None = None,
        order: Order = Order.CREATED_DESC,
        include_invalidated: bool = False,
    ) -> MemoryPage:
        first = self._limit(first, "first")
        check_size(filters)
        cursor = decode_cursor(after) if after else None
        found: list[MemoryRecord] = []
        batch = first + 1 if filters is None else max(100, first * 4)
        scanned, last_seen = 0, None
        while len(found) <= first:
            if scanned >= self.scan_budget:
                # a selective filter over a large scope: answer a short page whose cursor resumes
                # the scan after the last record read, so every request stays bounded
                return MemoryPage(found, encode_cursor(_order_at(last_seen, order), last_seen.id), True)
            page = await self._repo.list_page(
                scope, order=order, after=cursor, limit=batch, include_invalidated=include_invalidated
            )
            found += await select(filters, page)
            scanned += len(page)
            if len(page) < batch:
                break
            last_seen = page[-1]
            cursor = PageCursor(_order_at(last_seen, order), last_seen.id)
        items = found[:first]
        end = encode_cursor(_order_at(items[-1], order), items[-1].id) if items else None
        return MemoryPage(items, end, len(found) > first)

    async def owners(self, scope: Scope | None) -> list[Owner]:
        """Every user, agent and run id with valid memories inside `scope` (None: all), by kind then id."""
        counts = self._catalog.owners_in(scope or Scope())
        return [Owner(kind, id, n) for (kind, id), n in sorted(counts.items())]

    async def history(self, id: str) -> list[HistoryEntry]:
        entries = (await self._repo.history([id])).get(id, [])
        if not entries:
            raise NotFound(f"memory {id!r} has no history (it never existed)")
        return entries

    async def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        return await self._repo.history(list(ids))


def _order_at(rec: MemoryRecord, order: Order) -> datetime:
    return rec.created_at if order in (Order.CREATED_ASC, Order.CREATED_DESC) else rec.updated_at
