"""Parsed GraphQL documents are kept under a byte budget, not a count."""
from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError

from app.graphql.parse_cache import DocumentCache


def query(n: int, padding: int = 0) -> str:
    return "{ a%d %s}" % (n, "b " * padding)


def test_large_documents_are_evicted_by_size_and_oversized_ones_never_kept() -> None:
    cache = DocumentCache(max_bytes=10_000, max_entry_bytes=4_000)
    for n in range(10):
        cache.parse(query(n, padding=1_500))  # ~3 kB each
    assert cache.bytes <= 10_000 and len(cache) == 3
    cache.parse(query(99, padding=2_500))  # over max_entry_bytes
    assert len(cache) == 3 and all(len(k[0]) < 4_000 for k in cache._docs)
    small = [cache.parse(query(n)) for n in range(100)]
    assert len(cache) > 90 and cache.bytes <= 10_000
    assert cache.parse(query(99)) is small[99]  # a hit returns the same tree


def test_a_syntax_error_is_raised_and_nothing_kept() -> None:
    cache = DocumentCache(max_bytes=1_000, max_entry_bytes=1_000)
    with pytest.raises(GraphQLSyntaxError):
        cache.parse("{ broken")
    assert len(cache) == 0 and cache.bytes == 0


def test_validation_is_remembered_with_the_document_and_forgotten_with_it() -> None:
    cache = DocumentCache(max_bytes=100, max_entry_bytes=100)
    doc = cache.parse("{ a }")
    runs: list[int] = []
    for _ in range(3):
        cache.remember(doc, ("schema", "rules"), lambda: runs.append(1) or [])
    assert len(runs) == 1
    for n in range(20):
        cache.parse(query(n))  # pushes "{ a }" out
    cache.remember(doc, ("schema", "rules"), lambda: runs.append(1) or [])
    assert len(runs) == 2
