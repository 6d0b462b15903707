"""Pages and opaque cursors: the one page type every list in the service returns.

A `Page` carries, beside its items, the cursor positioned after each item (what Relay calls
an edge's cursor; the last is the page's end cursor) and whether a next page exists. Whoever
reads the rows owns the cursor's content (the core for memory lists, the graph adapter for
entities and relations); `encode_cursor` / `decode_cursor` only make it opaque and tell a
cursor of one list from another's."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from memory.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]  # cursors[i] resumes a listing after items[i]
    has_next: bool
    # where the next page starts when that is not after the last item (a bounded scan that
    # stopped early resumes after the last row it read, even with no item found)
    resume: str | None = None

    @property
    def end_cursor(self) -> str | None:
        return self.resume or (self.cursors[-1] if self.cursors else None)


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
    if not isinstance(cursor, str) or not text.startswith(prefix):
        raise InvalidInput(f"invalid cursor {cursor!r}: pass an endCursor from a previous page of {kind}")
    return text[len(prefix):]


def page_of(rows: list[T], limit: int, kind: str, key: Callable[[T], str]) -> Page[T]:
    """A page from `rows` read with limit + 1 (the extra row only tells that a next page exists);
    each item's cursor is encode_cursor(kind, key(item))."""
    items = rows[:limit]
    return Page(items, [encode_cursor(kind, key(item)) for item in items], len(rows) > limit)
