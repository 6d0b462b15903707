"""Relay cursor connections (forward pagination: `first` / `after`) and opaque cursors."""
from __future__ import annotations

import base64
import binascii
from typing import Callable, Generic, Sequence, TypeVar

import strawberry

from memory.errors import InvalidInput

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


def connection(
    items: Sequence[S], convert: Callable[[S], T], cursors: Sequence[str], has_next: bool, after: str | None
) -> Connection[T]:
    nodes = [convert(item) for item in items]
    edges = [Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)]
    return Connection(
        edges=edges,
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
    )


def encode_cursor(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The key inside a cursor made by encode_cursor(kind, ...); InvalidInput otherwise."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix = f"{kind}:"
    if not text.startswith(prefix):
        raise InvalidInput(f"invalid cursor {cursor!r}: pass an endCursor from a previous page of {kind}")
    return text[len(prefix):]
