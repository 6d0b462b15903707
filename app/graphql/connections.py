"""Relay cursor connections (forward pagination: `first` / `after`) over the core's pages."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

import strawberry

from memory.pagination import Page

T = TypeVar("T")
S = TypeVar("S")


@strawberry.type(description="Relay page information; pagination is forward only.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T] = strawberry.field(description="The edges' nodes, for clients that need no cursors.")
    page_info: PageInfo


def connection(page: Page[S], convert: Callable[[S], T], after: str | None) -> Connection[T]:
    """A core page as a Relay connection: the edges' cursors are the page's own."""
    nodes = [convert(item) for item in page.items]
    edges = [Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)]
    return Connection(
        edges=edges,
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.end_cursor,
        ),
    )
