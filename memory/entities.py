"""Entity resolution: map a new entity name onto an existing one of the same owner when their
name embeddings are close ("acme corp" and "acme corporation"), so the graph does not split
one thing into several nodes."""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from memory.naming import normalise_name, relation_type
from memory.models import Scope, Triple, Vector
from memory.ports import Embedder, GraphStore

log = logging.getLogger(__name__)

class EntityResolver:
    def __init__(self, graph: GraphStore | None, embedder: Embedder, threshold: float = 0.9) -> None:
        self._graph = graph
        self._embedder = embedder
        self._threshold = threshold
        self._cache: dict[str, dict[str, Vector]] = {}

    def forget(self, scope: Scope | None = None) -> None:
        if scope is None:
            self._cache.clear()
        else:
            self._cache = {k: v for k, v in self._cache.items() if not scope.contains(_scope_of(k))}

    async def _known(self, scope: Scope) -> dict[str, Vector]:
        key = scope.key()
        if key not in self._cache:
            known: dict[str, Vector] = {}
            if self._graph is not None:
                try:
                    known = await self._graph.entity_embeddings(scope)
                except Exception as exc:  # resolution is best effort; exact names still merge
                    log.warning("could not load entity names for fuzzy matching: %s", exc)
                    return {}
            self._cache[key] = known
        return self._cache[key]

    async def resolve(self, scope: Scope, triples: list[Triple]) -> tuple[list[Triple], dict[str, tuple[float, ...]]]:
        """Canonical triples plus the embedding of every entity name they use."""
        known = await self._known(scope)
        names = sorted({normalise_name(n) for t in triples for n in (t.source, t.destination)} - {""})
        fresh = [n for n in names if n not in known]
        mapping = {n: n for n in names}
        embeddings: dict[str, tuple[float, ...]] = {}
        if fresh:
            vectors = await self._embedder.embed(fresh, scope.tenant)
            existing = list(known.items())
            matrix = np.stack([v for _, v in existing]) if existing else None
            for name, vec in zip(fresh, vectors):
                if matrix is not None:
                    sims = matrix @ vec
                    best = int(np.argmax(sims))
                    if sims[best] >= self._threshold:
                        mapping[name] = existing[best][0]
                        continue
                known[name] = vec
                embeddings[name] = tuple(float(x) for x in vec)
        out = [
            replace(t, source=mapping[normalise_name(t.source)], relation=relation_type(t.relation),
                    destination=mapping[normalise_name(t.destination)])
            for t in triples
            if normalise_name(t.source) and normalise_name(t.destination)
        ]
        return out, embeddings


def _scope_of(key: str) -> Scope:
    u, a, r = (part.split(":", 1)[1] or None for part in key.split("|"))
    return Scope(u, a, r)
