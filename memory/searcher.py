"""Ranking memories for a query: vector, lexical and graph channels run side by side, then fusion.

Scope and filters are exact in every mode: each channel searches inside the caller's scope only,
and when filters drop candidates the channels are asked again, deeper, until `limit` hits pass or
every channel is exhausted."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Sequence, TypeVar

import numpy as np

from memory.concurrency import together
from memory.catalog import ScopeCatalog, admits
from memory.filters import Filter, select
from memory.graph_channel import GraphChannel
from memory.graph_presence import GraphPresence
from memory.mentions import query_keys
from memory.models import MemoryId, MemoryRecord, Scope, Vector, utcnow
from memory.errors import ProviderError
from memory.ports import Allow, Embedder, GraphStore, MemoryRepository, Reranker, TextSearch, VectorIndex
from memory.ranking import (
    Candidate, FusionWeights, Scores, SearchMode, candidates, fuse, query_terms,
)
from memory.results import SearchHit
from memory.timeparse import Window, time_window

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: str
    scope: Scope
    filters: Filter | None
    limit: int
    threshold: float | None
    include_invalidated: bool
    mode: SearchMode
    as_of: datetime | None = None  # search what was known then; time expressions are relative to it
    rerank: bool | None = None  # None: when a reranker is configured

    @property
    def exact(self) -> bool:
        """Whether every candidate needs its exact vector score: where that score alone decides
        the order (VECTOR) or what passes (a threshold). Otherwise candidates are ranked by the
        index's compressed vectors and only the hits returned are scored exactly (exact scores
        of every candidate cost ~1 ms a search at 100k memories)."""
        return self.mode is SearchMode.VECTOR or self.threshold is not None


class Searcher:
    def __init__(
        self,
        repo: MemoryRepository,
        index: VectorIndex,
        embedder: Embedder,
        catalog: ScopeCatalog,
        weights: FusionWeights,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
        scan_budget: int = 10_000,
        graph: GraphStore | None = None,
        presence: GraphPresence | None = None,
        text: TextSearch | None = None,
    ) -> None:
        self._repo = repo
        self._text = text if text is not None else repo  # where the lexical and mention channels read
        self._index = index
        self._embedder = embedder
        self._catalog = catalog
        self.weights = weights
        self._reranker = reranker
        self._rerank_candidates = rerank_candidates
        self._scan_budget = scan_budget  # candidates one filtered search may read before it answers
        self._graph_channel = GraphChannel(self._text, catalog, graph, presence)
        self._searching = 0  # searches in flight in this process

    @property
    def can_rerank(self) -> bool:
        return self._reranker is not None

    async def hits(self, req: SearchRequest) -> list[SearchHit]:
        self._searching += 1
        try:
            return await self._hits(req)
        finally:
            self._searching -= 1

    async def prepare_scans(self, count: int) -> int:
        """Have the index prepare now what a search of each of the `count` largest scopes needs
        before its query (`VectorIndex.prepare`: the labels of the scope's ids, which it keeps),
        so that their first searches after a start or an arrangement do not pay for it (~1 ms
        for 2,000 memories, in ~17% of one client's searches over 50 scopes at 100k); how many
        were prepared. One scope at a time, with a turn of the loop between."""
        prepared = 0
        for scope in self._catalog.largest_scopes(count, self._index.scan_max):
            allow = self._catalog.allow(scope, False)
            if allow is not None and await self._index.prepare(allow) is not None:
                prepared += 1
            await asyncio.sleep(0)
        return prepared

    async def _hits(self, req: SearchRequest) -> list[SearchHit]:
        terms = query_terms(req.query)
        hybrid = req.mode is SearchMode.HYBRID
        # the graph channel runs only for a query that names an entity: others pay nothing for it
        keys = query_keys(req.query, req.scope.user_id) if hybrid else []
        window = time_window(req.query, req.as_of or utcnow()) if hybrid else None
        k = max(req.limit * self.weights.depth, self.weights.min_candidates) if hybrid else req.limit
        if req.filters is not None:
            k = min(k * 4, max(k, self._scan_budget))
        wide = req.include_invalidated or req.as_of is not None
        # without filters, asOf or a time window nothing but the hits returned needs its row: the
        # catalog knows every candidate's owners, validity and expiry (a search at 100k memories
        # read ~60 rows for 10 hits)
        lazy = req.filters is None and req.as_of is None and not window
        records: dict[MemoryId, MemoryRecord] = {}
        vec: Vector | None = None
        while True:
            vec, channels, exhausted = await self._channels(req, terms, keys, vec, k)
            found = candidates(channels)
            if lazy:
                may_read = self._catalog.predicate(req.scope, req.include_invalidated)
                kept = [c for c in found if may_read(c.id)]
            else:
                records = await self._repo.get_many([c.id for c in found], recent=True)
                # owners are checked again on the rows read: another tenant may have written while we awaited
                now = self._catalog.now()
                present = [records[c.id] for c in found
                           if c.id in records and admits(req.scope, records[c.id], wide, now)]
                passing = {r.id for r in await select(req.filters,
                                                      (r for r in present if self._valid_then(req, r, now)))}
                kept = [c for c in found if c.id in passing]
            if vec is not None:
                await self._fill_vector_scores(vec, kept, req.exact)
            used = list(channels) + (["time"] if window and _mark_in_window(kept, records, window) else [])
            kept = fuse(kept, used, self.weights)
            if req.threshold is not None:
                kept = [c for c in kept if c.scores.get("vector", -2.0) >= req.threshold]
            # widen until `limit` hits pass, the scope is exhausted or the scan budget is spent
            # (then the best matches among the nearest `scan_budget` are the answer): filters are exact
            if len(kept) >= req.limit or exhausted or k >= self._scan_budget:
                break
            k = min(k * 4, self._scan_budget)
        # stored embeddings of the rows read for the hits: their exact scores without the index
        stored: dict[MemoryId, Vector] = {}
        if lazy:
            head = max(req.limit, self._rerank_candidates) if self._reranks(req) else req.limit
            with_embeddings = vec is not None and not req.exact
            kept, records = await self._rows_of_best(req, kept, head, stored if with_embeddings else None)
        reranked = await self._rerank(req, kept, records)
        best = kept[: req.limit]
        if vec is not None and not req.exact:
            await self._exact_vector_scores(vec, best, stored)
        return [self._hit(c, records[c.id], terms, req.mode, reranked) for c in best]

    async def _rows_of_best(
        self, req: SearchRequest, kept: list[Candidate], n: int, embeddings: dict[MemoryId, Vector] | None
    ) -> tuple[list[Candidate], dict[MemoryId, MemoryRecord]]:
        """The first n of `kept` whose rows still admit them (owners are checked again on the rows
        read: another tenant may have written while we awaited), with those rows; and, into
        `embeddings` when given, the stored embeddings read with them."""
        best: list[Candidate] = []
        records: dict[MemoryId, MemoryRecord] = {}
        start = 0
        while len(best) < n and start < len(kept):
            chunk = kept[start : start + n - len(best) + 2]  # a small margin for rows changed meanwhile
            start += len(chunk)
            ids = [c.id for c in chunk]
            if embeddings is None:
                rows = await self._repo.get_many(ids, recent=True)
            else:
                rows, vectors = await self._repo.get_many_with_embeddings(ids, recent=True)
                embeddings.update(vectors)
            now = self._catalog.now()
            for cand in chunk:
                rec = rows.get(cand.id)
                if rec is not None and admits(req.scope, rec, req.include_invalidated, now):
                    best.append(cand)
                    records[cand.id] = rec
        return best, records

    def _reranks(self, req: SearchRequest) -> bool:
        return self._reranker is not None and req.rerank is not False

    async def _rerank(self, req: SearchRequest, kept: list[Candidate], records: dict[MemoryId, MemoryRecord]) -> bool:
        """Reorder the best fused candidates by the reranker's scores; False when it did not run.
        A failing reranker costs the order it would have given, never the search."""
        if not self._reranks(req) or not kept:
            return False
        head = kept[: max(req.limit, self._rerank_candidates)]
        try:
            scores = await self._reranker.rerank(req.query, [records[c.id].text for c in head])
        except ProviderError as exc:
            log.warning("reranker failed; keeping the fused order: %s", exc)
            return False
        for cand, score in zip(head, scores):
            cand.scores["reranked"] = score
        kept[: len(head)] = sorted(head, key=lambda c: -c.scores["reranked"])
        return True

    @staticmethod
    def _valid_then(req: SearchRequest, rec: MemoryRecord, now: datetime) -> bool:
        if not req.include_invalidated and rec.expired(req.as_of or now):
            return False  # an expired memory is gone from the moment it expires
        if req.as_of is not None:
            if rec.created_at > req.as_of:
                return False
            if not req.include_invalidated and rec.invalidated_at is not None and rec.invalidated_at <= req.as_of:
                return False
        return True

    async def _channels(
        self, req: SearchRequest, terms: list[str], keys: list[str], vec: Vector | None, k: int
    ) -> tuple[Vector | None, dict[str, list[tuple[MemoryId, float]]], bool]:
        """Each active channel's top k (id, score), run concurrently; exhausted = no channel was cut at k."""
        channels: dict[str, list[tuple[MemoryId, float]]] = {}
        async with together() as tg:
            # asOf: memories invalidated since then were still valid then
            wide = req.include_invalidated or req.as_of is not None
            # the vector task first: it hands the query to the model thread at once, and the
            # lexical and graph channels (in memory, on this thread) then run while it encodes,
            # and so does the index's preparation of its scan
            vector = scan = None
            if req.mode is not SearchMode.LEXICAL:
                allow = self._catalog.allow(req.scope, wide)
                # the scan is prepared only to fill the loop's wait for the model: with other
                # searches in flight there is no such wait, and the prepared copy of the scope's
                # rows is then work and memory on top of the scan (16 concurrent searches at
                # 100k: 298-318 searches/s with it, 313-378 without)
                prepare = vec is None and self._searching == 1
                scan = asyncio.get_running_loop().create_future() if prepare else None
                vector = tg.create_task(self._nearest(req, vec, k, allow, scan))
            lexical = (
                tg.create_task(self._after_yield(self._text.lexical_search(req.scope, terms, k, wide)))
                if req.mode is not SearchMode.VECTOR and terms else None
            )
            graph = (tg.create_task(self._after_yield(self._graph_channel.search(req.scope, keys, k, wide, req.as_of)))
                     if keys else None)
            if scan is not None:
                # last: at first the model thread still holds the GIL (tokenising), and the
                # scan's NumPy copies, which let go of it, would then wait to get it back
                tg.create_task(self._after_yield(self._prepare(allow, scan)))
        if vector is not None:
            vec, channels["vector"] = vector.result()
        # only what this process knows, as for vectors: a replica not caught up with another's
        # writes (or deletes) answers from one consistent view; and, unless invalidated memories
        # are asked for, only what has not expired (SQL's answer does not know the hour)
        known = self._catalog.__contains__ if wide else self._catalog.live
        if lexical is not None:
            channels["lexical"] = [pair for pair in lexical.result() if known(pair[0])]
        if graph is not None and (linked := [pair for pair in graph.result() if known(pair[0])]):
            channels["graph"] = linked  # fused only when it found something
        return vec, channels, all(len(found) < k for found in channels.values())

    @staticmethod
    async def _after_yield(work: Awaitable[T]) -> T:
        # one turn of the loop first: the embedder hands the query to its thread on the next turn,
        # so the in-memory channels compute while the model encodes instead of before
        await asyncio.sleep(0)
        return await work

    async def _nearest(
        self, req: SearchRequest, vec: Vector | None, k: int, allow: Allow, scan: asyncio.Future[object] | None
    ) -> tuple[Vector, list[tuple[MemoryId, float]]]:
        if vec is None:
            vec = (await self._embedder.embed([req.query], req.scope.tenant))[0]
        prepared = await scan if scan is not None else None
        return vec, await self._index.nearest(vec, k, allow, exact=req.exact, prepared=prepared)

    async def _prepare(self, allow: Allow, scan: asyncio.Future[object]) -> None:
        # a failure fails the search's task group, which cancels the _nearest awaiting `scan`
        scan.set_result(await self._index.prepare(allow))

    async def _fill_vector_scores(self, vec: Vector, found: Sequence[Candidate], exact: bool) -> None:
        """Cosine similarity for candidates only the lexical channel found, so every hit explains it."""
        missing = [c for c in found if "vector" not in c.scores]
        if not missing:
            return
        sims = await self._index.similarities(vec, [c.id for c in missing], exact=exact)
        for cand in missing:
            if cand.id in sims:
                cand.scores["vector"] = sims[cand.id]

    async def _exact_vector_scores(
        self, vec: Vector, hits: Sequence[Candidate], stored: dict[MemoryId, Vector]
    ) -> None:
        """The hits' vector scores, ranked by the compressed vectors, computed again exactly
        (from the embeddings read with their rows, else the index's): what a hit reports is its
        exact cosine similarity."""
        query = np.asarray(vec, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scored = [c for c in hits if "vector" in c.scores]
        if read := [c for c in scored if c.id in stored]:
            # all at once: a product and a norm per hit cost ~16 us for ten, the matrix's ~8 us
            matrix = np.stack([stored[c.id] for c in read]).astype(np.float32, copy=False)
            sims = (matrix @ query) / np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
            for cand, sim in zip(read, sims.tolist()):
                cand.scores["vector"] = sim
        if rest := [c for c in scored if c.id not in stored]:
            sims = await self._index.similarities(vec, [c.id for c in rest], exact=True)
            for cand in rest:
                cand.scores["vector"] = sims.get(cand.id, cand.scores["vector"])

    @staticmethod
    def _hit(cand: Candidate, record: MemoryRecord, terms: list[str], mode: SearchMode, reranked: bool) -> SearchHit:
        s = cand.scores
        fused = s["fused"] if mode is SearchMode.HYBRID else None
        scores = Scores(vector=s.get("vector"), lexical=s.get("lexical"), graph=s.get("graph"), time=s.get("time"),
                        fused=fused, reranked=s.get("reranked"))
        by_mode = {SearchMode.HYBRID: fused, SearchMode.VECTOR: s.get("vector"), SearchMode.LEXICAL: s.get("lexical")}
        score = s.get("reranked") if reranked else by_mode[mode]
        return SearchHit(record, float(score or 0.0), scores, tuple(terms))


def _mark_in_window(found: Sequence[Candidate], records: dict[MemoryId, MemoryRecord], window: Window) -> bool:
    """Time channel: 1.0 for candidates whose event time lies in the query's window; any found?"""
    start, end = window
    hit = False
    for cand in found:
        if start <= records[cand.id].event_time < end:
            cand.scores["time"] = 1.0
            cand.ranks["time"] = 1
            hit = True
    return hit
