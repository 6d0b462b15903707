"""The knowledge-graph side of the service: queries, manual relations, and turning extracted
statements into graph work."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Sequence

from memory.committer import Committer
from memory.entities import EntityResolver
from memory.errors import InvalidInput, NotFound, StoreUnavailable
from memory.naming import normalise_name, relation_type
from memory.ingest import graph_work
from memory.models import Entity, GraphQuery, GraphWork, Relation, Scope, Triple, as_utc, utcnow
from memory.pagination import Page
from memory.ports import ChangeSet, GraphStore
from memory.results import AddResult, Neighbourhood
from memory.validation import check_limit, check_text

log = logging.getLogger(__name__)


class KnowledgeGraph:
    """Works with the graph store when one is configured; without one, reads and writes that
    need it refuse with StoreUnavailable and extraction simply produces no graph work."""

    def __init__(
        self,
        graph: GraphStore | None,
        resolver: EntityResolver,
        committer: Committer,
        *,
        exclusive_relations: frozenset[str],
        max_limit: int,
    ) -> None:
        self._graph = graph
        self._entities = resolver
        self._committer = committer
        self._exclusive = exclusive_relations
        self._max_limit = max_limit

    async def works_for(
        self, scope: Scope, per_memory: list[tuple[str, tuple[Triple, ...]]], loose: list[Triple]
    ) -> list[GraphWork]:
        """The graph work for triples stated by memories (`per_memory`) or by no memory (`loose`):
        names resolved onto the owner's known entities, unusable relation names skipped."""
        if self._graph is None or not (per_memory or loose):
            return []
        groups: list[tuple[str | None, tuple[Triple, ...]]] = [*per_memory, (None, tuple(loose))]
        tagged: list[tuple[int, Triple]] = []
        for g, (_, triples) in enumerate(groups):
            for t in triples:
                if not (normalise_name(t.source) and normalise_name(t.destination)):
                    continue
                try:
                    tagged.append((g, replace(t, relation=relation_type(t.relation))))
                except InvalidInput as exc:  # an unusable relation name from the extractor
                    log.debug("skipping relation %r: %s", t.relation, exc)
        if not tagged:
            return []
        canon, embeddings = await self._entities.resolve(scope, [t for _, t in tagged])
        works = []
        for g, (memory_id, _) in enumerate(groups):
            mine = [c for (tg, _), c in zip(tagged, canon) if tg == g]
            if mine:
                works.append(graph_work(scope, mine, memory_id, embeddings, self._exclusive))
        return works

    def _require_graph(self) -> GraphStore:
        if self._graph is None:
            raise StoreUnavailable("graph", "the graph store is disabled by configuration", disclose=True)
        return self._graph

    async def entities(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> Page[Entity]:
        return await self._require_graph().entities(scope, query, check_limit(first, self._max_limit, "first"), after)

    async def relations(self, scope: Scope | None, query: GraphQuery, first: int, after: str | None) -> Page[Relation]:
        """A page of relations: those that hold now, or held at `query.as_of`."""
        rel = query.relation and relation_type(query.relation)
        query = replace(query, relation=rel or None, as_of=as_utc(query.as_of) if query.as_of is not None else None)
        return await self._require_graph().relations(scope, query, check_limit(first, self._max_limit, "first"), after)

    async def neighbourhood(self, scope: Scope, name: str, depth: int, as_of: datetime | None = None) -> Neighbourhood:
        """Entities within `depth` hops of `name` over the relations that hold now, or held at `as_of`."""
        scope.require()
        if not isinstance(depth, int) or not 1 <= depth <= 3:
            raise InvalidInput("depth must be 1, 2 or 3")
        entities, relations = await self._require_graph().neighbourhood(
            scope, normalise_name(check_text(name, "entity")), depth, as_utc(as_of) if as_of is not None else None)
        return Neighbourhood(entities, relations)

    async def relations_by_memory(self, ids: Sequence[str]) -> dict[str, list[Relation]]:
        if self._graph is None:
            return {}
        return await self._graph.relations_by_memory(list(ids))

    async def add_relation(
        self, scope: Scope, source: str, relation: str, destination: str, *, actor: str | None = None
    ) -> AddResult:
        scope.require()
        self._require_graph()
        triple = Triple(normalise_name(check_text(source, "source")), relation_type(relation),
                        normalise_name(check_text(destination, "destination")))
        works = await self.works_for(scope, [], [triple])
        added, invalid, pending = await self._committer.commit(ChangeSet(graph_work=works), works)
        await self._committer.publish([], added, invalid)
        return AddResult([], added, invalid, pending)

    async def invalidate_relation(
        self, scope: Scope, source: str, relation: str, destination: str, *, actor: str | None = None
    ) -> list[Relation]:
        scope.require()
        changed = await self._require_graph().invalidate_relation(
            scope, normalise_name(check_text(source, "source")), relation_type(relation),
            normalise_name(check_text(destination, "destination")), utcnow(),
        )
        if not changed:
            raise NotFound(f"no valid relation ({source})-[{relation}]->({destination}) in this scope")
        await self._committer.publish([], [], changed)
        return changed
