"""The graph channel of hybrid search: memories that name the entities the query names, and
one hop out from them.

The query's entity keys come from the same recogniser as the mention index every memory gets
(memory/mentions.py), so raw memories (`infer=false`) are served too. Each key weighs its
inverse document frequency in the scope (BM25's idf): a rare name says more about which memory
answers than a common one. A key that a large share of the scope names (the two speakers of a
conversation, the user's own name) selects nothing and is left out, so the channel never
boosts half a scope at once.

One hop: the entities related to the query's entities, from the graph store's relations (when a
graph is configured) and from the entities co-mentioned in the memories found directly. A
memory naming such a related entity scores HOP_DISCOUNT of that entity's weight, below a
memory naming the query's entity itself.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from memory.graph_presence import GraphPresence
from memory.catalog import ScopeCatalog
from memory.concurrency import together
from memory.errors import StoreUnavailable
from memory.models import MemoryId, Relation, Scope
from memory.ports import GraphStore, TextSearch

log = logging.getLogger(__name__)

HOP_DISCOUNT = 0.5
# a key named by more than this share of the scope's memories (and more than SELECTIVE_FLOOR) selects nothing
SELECTIVE_SHARE = 0.05
SELECTIVE_FLOOR = 3
MAX_HOPS = 8  # related entities followed per search
RELATION_LOOKUP = 50  # graph relations read per search


def idf(total: int, named: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1 + (max(total, named) - named + 0.5) / (named + 0.5))


def too_common(named: int, total: int) -> bool:
    """Whether a key named by `named` of `total` memories is a hub that selects nothing."""
    return named > max(SELECTIVE_FLOOR, SELECTIVE_SHARE * total)


def selective(counts: Mapping[str, int], total: int) -> dict[str, float]:
    """The weight of each key that some but not too many memories name."""
    return {key: idf(total, n) for key, n in counts.items() if n > 0 and not too_common(n, total)}


def related(relations: Iterable[Relation], keys: Iterable[str], as_of: datetime | None) -> list[str]:
    """The other ends of relations touching `keys` (valid at `as_of`, default now), most linked first."""
    wanted = set(keys)
    found: Counter[str] = Counter()
    for rel in relations:
        if not rel.holds_at(as_of):
            continue
        for here, there in ((rel.source, rel.destination), (rel.destination, rel.source)):
            if here in wanted and there not in wanted:
                found[there] += 1
    return [key for key, _ in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]


def co_mentioned(named: Mapping[MemoryId, Sequence[str]], keys: Iterable[str]) -> list[str]:
    """The other keys the memories in `named` name, most often first."""
    wanted = set(keys)
    found = Counter(key for names in named.values() for key in names if key not in wanted)
    return [key for key, _ in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]


def scored(
    named: Mapping[MemoryId, Sequence[str]], direct: Mapping[str, float], hops: Mapping[str, float]
) -> list[tuple[MemoryId, float]]:
    """Each memory's graph score: the weights of the query's keys it names, plus HOP_DISCOUNT of
    the weights of the related keys it names; best first (ties: id)."""
    out = []
    for id, names in named.items():
        score = sum(direct.get(key, 0.0) + HOP_DISCOUNT * hops.get(key, 0.0) for key in set(names))
        if score > 0:
            out.append((id, score))
    return sorted(out, key=lambda p: (-p[1], p[0]))


class GraphChannel:
    def __init__(self, text: TextSearch, catalog: ScopeCatalog, graph: GraphStore | None = None,
                 presence: GraphPresence | None = None) -> None:
        self._text = text
        self._catalog = catalog
        self._graph = graph
        self._presence = presence  # None: always ask the graph

    async def search(
        self, scope: Scope, keys: Sequence[str], k: int, include_invalidated: bool, as_of: datetime | None = None
    ) -> list[tuple[MemoryId, float]]:
        """Up to k (memory id, graph score) inside the read scope, best first."""
        if not keys or k <= 0:
            return []
        total = self._catalog.size_hint(scope)
        counts = await self._text.mention_counts(scope, keys, include_invalidated)
        direct = selective(counts, total)
        # the graph is asked about the keys that are no hub of the scope (a key no memory names
        # may still be an entity extracted in lower case): most searches naming only the
        # speakers of a conversation cost no graph round trip
        rare = [key for key in keys if not too_common(counts.get(key, 0), total)]
        async with together() as tg:
            linked = tg.create_task(self._linked(scope, rare, as_of))
            ids = await self._text.mentioning(scope, list(direct), k, include_invalidated) if direct else []
            named = await self._text.mentions(ids) if ids else {}
        related_keys = [*linked.result(), *co_mentioned(named, keys)]
        hops = await self._hops(scope, [key for key in dict.fromkeys(related_keys) if key not in keys], total,
                                include_invalidated)
        if hops:
            more = [id for id in await self._text.mentioning(scope, list(hops), k, include_invalidated) if id not in named]
            named = {**named, **(await self._text.mentions(more) if more else {})}
        return scored(named, direct, hops)[:k]

    async def _hops(self, scope: Scope, related_keys: list[str], total: int, include_invalidated: bool) -> dict[str, float]:
        """The weights of the first MAX_HOPS related keys that select (most linked first)."""
        if not related_keys:
            return {}
        considered = related_keys[: 4 * MAX_HOPS]
        weights = selective(await self._text.mention_counts(scope, considered, include_invalidated), total)
        return dict([(key, weights[key]) for key in considered if key in weights][:MAX_HOPS])

    async def _linked(self, scope: Scope, keys: Sequence[str], as_of: datetime | None) -> list[str]:
        if self._graph is None or not keys:
            return []
        try:
            if self._presence is not None and not await self._presence.has_relations(scope):
                return []  # no graph in this scope: no round trip for the names
            relations = await self._graph.relations_for(scope, keys, limit=RELATION_LOOKUP, as_of=as_of)
        except StoreUnavailable as exc:
            log.warning("graph unavailable during search; the graph channel follows co-mentions only: %s", exc)
            return []
        return related(relations, keys, as_of)
