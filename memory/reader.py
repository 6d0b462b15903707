"""Reading memories back: get, search (by words, meaning and graph, with exact filters), list, history."""
from __future__ import annotations

import logging
import math
import re
from dataclasses import replace
from datetime import datetime
from typing import Sequence

from memory.concurrency import together
from memory.catalog import ScopeCatalog
from memory.errors import InvalidInput, NotFound, StoreUnavailable
from memory.naming import normalise_name
from memory.graph_presence import GraphPresence
from memory.filters import Filter, check_size, select
from memory.models import HistoryEntry, MemoryRecord, Relation, Scope, as_utc
from memory.observe import Observer, observed
from memory.pagination import Page, decode_cursor, encode_cursor
from memory.ports import GraphStore, MemoryRepository, Order, PageCursor
from memory.ranking import SearchMode
from memory.results import Owner, SearchHit, SearchResult
from memory.searcher import Searcher, SearchRequest
from memory.validation import check_limit, check_text

log = logging.getLogger(__name__)

MAX_CONTEXT = 5
_WORD = re.compile(r"[\w'’-]+")


class MemoryReader:
    """The read side of the service: every read goes through the ports it is given."""

    def __init__(
        self,
        repo: MemoryRepository,
        graph: GraphStore | None,
        catalog: ScopeCatalog,
        searcher: Searcher,
        *,
        max_limit: int,
        scan_budget: int,
        presence: GraphPresence | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer  # watches search and list (the edge's metrics and tracing)
        self._repo = repo
        self._graph = graph
        self._presence = presence  # None: always ask the graph
        self._catalog = catalog
        self._searcher = searcher
        self._max_limit = max_limit
        # records one filtered search or list may read before it answers with what it found
        self._scan_budget = scan_budget

    async def get(self, id: str) -> MemoryRecord:
        """The memory; an expired one is gone (NotFound) from the moment it expires."""
        rec = await self._repo.get(id) if isinstance(id, str) and id else None
        if rec is None or rec.expired(self._catalog.now()):
            raise NotFound(f"memory {id!r} does not exist")
        return rec

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        now = self._catalog.now()
        return {id: rec for id, rec in (await self._repo.get_many(list(ids))).items() if not rec.expired(now)}

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
        mode: SearchMode = SearchMode.HYBRID,
        as_of: datetime | None = None,
        context: int = 0,
        rerank: bool | None = None,
        with_relations: bool = True,
    ) -> SearchResult:
        """The memories in `scope` that best answer `query`, best first, each with its per-channel
        scores; `threshold` drops hits whose cosine similarity is below it. `as_of` searches what
        was stored and valid then, and time expressions in the query ("last May") count from it.
        `context` adds to each hit up to that many memories its owner stored before and after it.
        `rerank` (default: when a reranker is configured) reorders the best hits with it.
        `with_relations` also looks up the graph relations of the entities the query names (a
        graph round trip: edges ask only when their client wants them)."""
        scope.require()
        query = check_text(query, "query")
        limit = check_limit(limit, self._max_limit)
        check_size(filters)
        if threshold is not None and not (-1.0 <= threshold <= 1.0 and math.isfinite(threshold)):
            raise InvalidInput("threshold must be between -1 and 1 (cosine similarity)")
        if not isinstance(mode, SearchMode):
            raise InvalidInput("mode must be one of HYBRID, VECTOR, LEXICAL")
        if not isinstance(context, int) or not 0 <= context <= MAX_CONTEXT:
            raise InvalidInput(f"context must be between 0 and {MAX_CONTEXT}")
        if rerank and not self._searcher.can_rerank:
            raise InvalidInput("rerank needs a reranker and none is configured (set reranker.base_url)")
        if threshold is not None and mode is SearchMode.LEXICAL:
            raise InvalidInput("threshold is a cosine similarity: use it with HYBRID or VECTOR search")
        request = SearchRequest(query, scope, filters, limit, threshold, include_invalidated, mode,
                                as_of=as_utc(as_of) if as_of is not None else None, rerank=rerank)
        async with together() as tg:
            hits_task = tg.create_task(self._searcher.hits(request))
            rel_task = tg.create_task(
                self._query_relations(query, scope, request.as_of) if with_relations else _none())
        hits = hits_task.result()
        if context:
            hits = await self._with_context(hits, context, include_invalidated)
        return SearchResult(hits, rel_task.result())

    async def _with_context(self, hits: list[SearchHit], n: int, include_invalidated: bool) -> list[SearchHit]:
        """Each hit with the n memories of the same owner (same run, when it has one) stored
        before and after it: evidence often spans neighbouring turns of a conversation."""

        async def around(rec: MemoryRecord) -> tuple[MemoryRecord, ...]:
            at = PageCursor(rec.created_at, rec.id)
            async with together() as tg:
                before = tg.create_task(self._repo.list_page(
                    rec.scope, order=Order.CREATED_DESC, after=at, limit=n, include_invalidated=include_invalidated))
                after = tg.create_task(self._repo.list_page(
                    rec.scope, order=Order.CREATED_ASC, after=at, limit=n, include_invalidated=include_invalidated))
            return tuple(r for r in (*reversed(before.result()), *after.result())
                         if include_invalidated or not r.expired(now))

        now = self._catalog.now()

        async with together() as tg:
            tasks = [tg.create_task(around(h.record)) for h in hits]
        return [replace(h, context=t.result()) for h, t in zip(hits, tasks)]

    async def _query_relations(self, query: str, scope: Scope, as_of: datetime | None) -> list[Relation]:
        if self._graph is None:
            return []
        try:
            if self._presence is not None and not await self._presence.has_relations(scope):
                return []  # no graph in this scope: no round trip for the names
        except StoreUnavailable as exc:
            log.warning("graph unavailable during search; returning no relations: %s", exc)
            return []
        words = [w.casefold() for w in _WORD.findall(query)]
        names = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
        if {"i", "me", "my", "mine", "myself"} & set(words) and scope.user_id:
            names.add(normalise_name(scope.user_id))
        try:
            return await self._graph.relations_for(scope, sorted(names)[:200], as_of=as_of)
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
    ) -> Page[MemoryRecord]:
        first = check_limit(first, self._max_limit, "first")
        check_size(filters)
        cursor = _decode(after)
        found: list[MemoryRecord] = []
        batch = first + 1 if filters is None else max(100, first * 4)
        # expired rows are left out here (SQL does not know the hour); the sweep removes them soon
        now = self._catalog.now()
        live = (lambda rows: rows) if include_invalidated else (lambda rows: [r for r in rows if not r.expired(now)])
        scanned, last_seen = 0, None
        while len(found) <= first:
            if scanned >= self._scan_budget and last_seen is not None:
                # a selective filter over a large scope: answer a short page whose cursor resumes
                # the scan after the last record read, so every request stays bounded
                return Page(found, [_cursor(rec, order) for rec in found], True, resume=_cursor(last_seen, order))
            page = await self._repo.list_page(
                scope, order=order, after=cursor, limit=batch, include_invalidated=include_invalidated
            )
            found += await select(filters, live(page))
            scanned += len(page)
            if len(page) < batch:
                break
            last_seen = page[-1]
            cursor = PageCursor(_order_at(last_seen, order), last_seen.id)
        items = found[:first]
        return Page(items, [_cursor(rec, order) for rec in items], len(found) > first)

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


async def _none() -> list[Relation]:
    return []


def _order_at(rec: MemoryRecord, order: Order) -> datetime:
    return rec.created_at if order in (Order.CREATED_ASC, Order.CREATED_DESC) else rec.updated_at


def _cursor(rec: MemoryRecord, order: Order) -> str:
    return encode_cursor("memory", f"{_order_at(rec, order).isoformat()}|{rec.id}")


def _decode(after: str | None) -> PageCursor | None:
    key = decode_cursor("memory", after)
    if key is None:
        return None
    at, sep, id = key.partition("|")
    try:
        return PageCursor(datetime.fromisoformat(at), id) if sep and id else _refuse(after)
    except ValueError:
        return _refuse(after)


def _refuse(cursor: str | None) -> PageCursor:
    raise InvalidInput(f"invalid cursor {cursor!r}: pass an endCursor from a previous page of memory")
