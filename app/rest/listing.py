"""Listing memories: GET /v1/memories (query string) and POST /v2|v3/memories (JSON body).

Two ways to page: the core's cursors (`limit` + `after`, answered with `next_cursor`), and
mem0's page numbers (`page` + `page_size`, answered with `next` / `previous` URLs). Page N is
reached by walking cursors, so it is bounded to MAX_SKIP earlier memories."""
from __future__ import annotations

from typing import Any

from app.rest.dispatch import Ctx
from app.rest.requests import ListBody, ListOptions, ListQuery, PageQuery
from app.rest.responses import ListResponse, MemoryOut
from app.rest.scoping import (
    categories_filter,
    check_graph,
    created_between,
    scope_and_filter,
)
from memory.errors import InvalidInput
from memory.filters import Filter
from memory.models import Scope
from memory.ports import Order

DEFAULT_PAGE = 100
MAX_SKIP = 10_000


async def list_get(ctx: Ctx) -> ListResponse:
    query: ListQuery = ctx.query
    return await _list(ctx, query, query.filters, query.page, query.page_size)


async def list_post(ctx: Ctx) -> ListResponse:
    body: ListBody = ctx.body
    paging: PageQuery = ctx.query
    page = _same("page", body.page, paging.page)
    size = _same("page_size", body.page_size, paging.page_size)
    return await _list(ctx, body, body.filters, page, size)


def _same(name: str, in_body: int | None, in_query: int | None) -> int | None:
    if in_body is not None and in_query is not None and in_body != in_query:
        raise InvalidInput(f"{name} is given in both the body and the query string, differently")
    return in_body if in_body is not None else in_query


class _Listing:
    """One list request's fixed parts, so paging can ask the service repeatedly."""

    def __init__(self, ctx: Ctx, scope: Scope | None, tree: Filter | None, opts: ListOptions) -> None:
        self.ctx, self.scope, self.tree = ctx, scope, tree
        self.order = Order(opts.order)
        self.include_invalidated = opts.include_invalidated or opts.latest_only is False or bool(opts.show_expired)

    async def page(self, first: int, after: str | None) -> Any:
        return await self.ctx.svc.list_memories(self.scope, filters=self.tree, first=first, after=after,
                                                order=self.order, include_invalidated=self.include_invalidated)


async def _list(ctx: Ctx, opts: ListOptions, spec: Any, page: int | None, size: int | None) -> ListResponse:
    check_graph(ctx, opts.enable_graph)
    scope, tree = scope_and_filter(opts.scope_fields(), spec, created_between(opts.start_date, opts.end_date),
                                   categories_filter(opts.categories))
    listing = _Listing(ctx, scope, tree, opts)
    default = min(DEFAULT_PAGE, ctx.svc.options.max_limit)
    if page is None and size is None:
        found = await listing.page(opts.limit or default, opts.after)
        return ListResponse(results=[MemoryOut.of(r) for r in found.items], has_more=found.has_next,
                            next_cursor=found.end_cursor if found.has_next else None)
    if opts.limit is not None or opts.after is not None:
        raise InvalidInput("page it one way: page / page_size, or limit / after")
    return await _numbered(ctx, listing, page or 1, size or default)


async def _numbered(ctx: Ctx, listing: _Listing, page: int, size: int) -> ListResponse:
    skip = (page - 1) * size
    if skip > MAX_SKIP:
        raise InvalidInput(f"page * page_size reaches past {MAX_SKIP} memories: use limit / after cursors")
    step = ctx.svc.options.max_limit
    cursor: str | None = None
    while skip > 0:
        walked = await listing.page(min(skip, step), cursor)
        if not walked.has_next:
            return ListResponse(results=[], has_more=False, previous=_url(ctx, page - 1, size))
        cursor, skip = walked.end_cursor, skip - len(walked.items)
    found = await listing.page(size, cursor)
    return ListResponse(
        results=[MemoryOut.of(r) for r in found.items], has_more=found.has_next,
        next=_url(ctx, page + 1, size) if found.has_next else None,
        previous=_url(ctx, page - 1, size) if page > 1 else None,
    )


def _url(ctx: Ctx, page: int, size: int) -> str:
    return str(ctx.request.url.update_query(page=page, page_size=size))
