"""Query resolvers: convert input, call one service method, convert output."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.graphql.connections import Connection, connection
from app.graphql.context import Info
from app.graphql.selection import selects
from app.graphql.inputs import (
    EntityFilter,
    MemoryFilter,
    RelationFilter,
    ScopeInput,
    filter_of,
    required_scope,
    scope_of,
)
from app.graphql.types import AsOf, Entity, ExportJob, HistoryEvent, Memory, Neighbourhood, Relation, SearchResult
from memory.models import GraphQuery
from memory.ports import Order
from memory.ranking import SearchMode


@strawberry.type
class Query:
    @strawberry.field(description="One memory by id (NOT_FOUND when it does not exist).")
    async def memory(self, info: Info, id: strawberry.ID) -> Memory | None:
        return Memory.of(await info.context.service.get(str(id)))

    @strawberry.field(description="A memory export by id, with its result once COMPLETED (NOT_FOUND when it does "
                      "not exist, is not yours, or is past its retention).")
    async def memory_export(self, info: Info, id: strawberry.ID) -> ExportJob:
        return ExportJob.of(await info.context.service.export(str(id)))

    @strawberry.field(description="A page of memories, newest first by default.")
    async def memories(
        self,
        info: Info,
        scope: ScopeInput | None = None,
        filter: MemoryFilter | None = None,
        first: int = 20,
        after: str | None = None,
        order_by: Order = Order.CREATED_DESC,
        include_invalidated: bool = False,
    ) -> Connection[Memory]:
        page = await info.context.service.list_memories(
            scope_of(scope), filters=filter_of(filter), first=first, after=after,
            order=order_by, include_invalidated=include_invalidated,
        )
        return connection(page, Memory.of, after)

    @strawberry.field(description="The memories that best answer `query` (by words and meaning), best first.")
    async def search(
        self,
        info: Info,
        query: str,
        scope: ScopeInput,
        filter: MemoryFilter | None = None,
        limit: int = 10,
        threshold: Annotated[float | None, strawberry.argument(
            description="Drop hits whose cosine similarity (`scores.vector`) is below this.")] = None,
        include_invalidated: bool = False,
        mode: SearchMode = SearchMode.HYBRID,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Search what was stored and valid at this time (`relations`: those that held then); "
            "time words in the query (\"last May\", \"two weeks ago\") count from it instead of now.")] = None,
        context: Annotated[int, strawberry.argument(
            description="Also return, per hit, up to this many (0-5) memories of the same owner stored "
            "just before and after it (`SearchHit.context`).")] = 0,
        rerank: Annotated[bool | None, strawberry.argument(
            description="Reorder the best hits with the configured reranker (default: when one is configured; "
            "true without one is an error).")] = None,
    ) -> SearchResult:
        result = await info.context.service.search(
            query, required_scope(scope), filters=filter_of(filter), limit=limit,
            threshold=threshold, include_invalidated=include_invalidated, mode=mode, as_of=as_of, context=context,
            rerank=rerank,
            with_relations=selects(info, "relations"),  # the graph is asked only when the client wants it
        )
        return SearchResult.of(result)

    @strawberry.field(description="A memory's audit trail, oldest first (kept after deletion).")
    async def history(self, info: Info, memory_id: strawberry.ID) -> list[HistoryEvent]:
        return [HistoryEvent.of(e) for e in await info.context.service.history(str(memory_id))]

    @strawberry.field(description="A page of graph entities, ordered by name.")
    async def entities(
        self,
        info: Info,
        scope: ScopeInput | None = None,
        filter: EntityFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Entity]:
        query = filter.to_query() if filter else GraphQuery()
        page = await info.context.service.entities(scope_of(scope), query, first, after)
        return connection(page, Entity.of, after)

    @strawberry.field(description="A page of graph relations, oldest first.")
    async def relations(
        self,
        info: Info,
        scope: ScopeInput | None = None,
        filter: RelationFilter | None = None,
        first: int = 20,
        after: str | None = None,
        as_of: AsOf = None,
    ) -> Connection[Relation]:
        query = filter.to_query(as_of) if filter else GraphQuery(as_of=as_of)
        page = await info.context.service.relations(scope_of(scope), query, first, after)
        return connection(page, Relation.of, after)

    @strawberry.field(description="Entities within `depth` (1-3) hops of `entity`, and the relations between them.")
    async def neighbourhood(
        self, info: Info, scope: ScopeInput, entity: str, depth: int = 1, as_of: AsOf = None
    ) -> Neighbourhood:
        return Neighbourhood.of(await info.context.service.neighbourhood(required_scope(scope), entity, depth, as_of))
