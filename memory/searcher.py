"""Ranking memories for a query: vector and lexical channels run side by side, then fusion.

Scope and filters are exact in every mode: each channel searches inside the caller's scope only,
and when filters drop candidates the channels are asked again, deeper, until `limit` hits pass or
every channel is exhausted."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from memory.catalog import ScopeCatalog
from memory.filters import Filter, matches
from memory.models import MemoryId, MemoryRecord, Scope, Vector
from memory.ports import Embedder, MemoryRepository, VectorIndex
from memory.ranking import (
    Candidate, FusionWeights, Scores, SearchMode, candidates, fuse, matched_terms, query_terms,
)
from memory.results import SearchHit


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: str
    scope: Scope
    filters: Filter | None
    limit: int
    threshold: float | None
    include_invalidated: bool
    mode: SearchMode


class Searcher:
    def __init__(
        self,
        repo: MemoryRepository,
        index: VectorIndex,
        embedder: Embedder,
        catalog: ScopeCatalog,
        weights: FusionWeights,
    ) -> None:
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._catalog = catalog
        self.weights = weights

    async def hits(self, req: SearchRequest) -> list[SearchHit]:
        terms = query_terms(req.query)
        hybrid = req.mode is SearchMode.HYBRID
        k = max(req.limit * self.weights.depth, self.weights.min_candidates) if hybrid else req.limit
        if req.filters is not None:
            k *= 4
        vec: Vector | None = None
        while True:
            vec, channels, exhausted = await self._channels(req, terms, vec, k)
            found = candidates(channels)
            records = await self._repo.get_many([c.id for c in found])
            kept = [c for c in found if c.id in records and matches(req.filters, records[c.id])]
            if vec is not None:
                await self._fill_vector_scores(vec, kept)
            kept = fuse(kept, list(channels), self.weights)
            if req.threshold is not None:
                kept = [c for c in kept if c.scores.get("vector", -2.0) >= req.threshold]
            # widen until `limit` hits pass or the scope is exhausted: filters are exact
            if len(kept) >= req.limit or exhausted:
                return [self._hit(c, records[c.id], terms, req.mode, channels) for c in kept[: req.limit]]
            k *= 4

    async def _channels(
        self, req: SearchRequest, terms: list[str], vec: Vector | None, k: int
    ) -> tuple[Vector | None, dict[str, list[tuple[MemoryId, float]]], bool]:
        """Each active channel's top k (id, score), run concurrently; exhausted = no channel was cut at k."""
        channels: dict[str, list[tuple[MemoryId, float]]] = {}
        async with asyncio.TaskGroup() as tg:
            lexical = (
                tg.create_task(self._repo.lexical_search(req.scope, terms, k, req.include_invalidated))
                if req.mode is not SearchMode.VECTOR and terms else None
            )
            vector = tg.create_task(self._nearest(req, vec, k)) if req.mode is not SearchMode.LEXICAL else None
        if vector is not None:
            vec, channels["vector"] = vector.result()
        if lexical is not None:
            # only what this process knows, as for vectors: a replica not caught up with another's
            # writes (or deletes) answers from one consistent view
            channels["lexical"] = [pair for pair in lexical.result() if pair[0] in self._catalog]
        return vec, channels, all(len(found) < k for found in channels.values())

    async def _nearest(
        self, req: SearchRequest, vec: Vector | None, k: int
    ) -> tuple[Vector, list[tuple[MemoryId, float]]]:
        if vec is None:
            vec = (await self._embedder.embed([req.query]))[0]
        return vec, await self._index.nearest(vec, k, self._catalog.allow(req.scope, req.include_invalidated))

    async def _fill_vector_scores(self, vec: Vector, found: Sequence[Candidate]) -> None:
        """Cosine similarity for candidates only the lexical channel found, so every hit explains it."""
        missing = [c for c in found if "vector" not in c.scores]
        if not missing:
            return
        vectors = await self._index.vectors([c.id for c in missing])
        for cand in missing:
            if cand.id in vectors:
                cand.scores["vector"] = float(np.dot(vectors[cand.id], vec))

    def _hit(
        self, cand: Candidate, record: MemoryRecord, terms: list[str], mode: SearchMode,
        channels: dict[str, list[tuple[MemoryId, float]]],
    ) -> SearchHit:
        s = cand.scores
        fused = s["fused"] if mode is SearchMode.HYBRID else None
        scores = Scores(vector=s.get("vector"), lexical=s.get("lexical"), fused=fused)
        score = {SearchMode.HYBRID: fused, SearchMode.VECTOR: s.get("vector"), SearchMode.LEXICAL: s.get("lexical")}
        return SearchHit(record, float(score[mode] or 0.0), scores, tuple(matched_terms(terms, record.text)))
