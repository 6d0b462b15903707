"""Parsed (and validated) GraphQL documents, kept by the size of their text: clients send the
same few operations, but a count-bounded cache would also keep a few hundred of the largest
documents anyone cared to send."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, TypeVar

from graphql import DocumentNode, parse

T = TypeVar("T")


class DocumentCache:
    """Least recently used first out, under `max_bytes` of document text in all; texts over
    `max_entry_bytes` are parsed every time and never kept."""

    def __init__(self, max_bytes: int, max_entry_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.bytes = 0
        self._docs: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], DocumentNode] = OrderedDict()
        # what was worked out once per kept document (by identity): its validation errors per
        # (schema, rules), its cost...
        self._validated: dict[int, dict[tuple[Any, ...], Any]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def parse(self, text: str, **options: Any) -> DocumentNode:
        key = (text, tuple(sorted(options.items())))
        found = self._docs.get(key)
        if found is not None:
            self._docs.move_to_end(key)
            return found
        document = parse(text, **options)  # a syntax error is raised, and nothing kept
        size = len(text)
        if size <= self.max_entry_bytes:
            self._docs[key] = document
            self._validated[id(document)] = {}
            self.bytes += size
            while self.bytes > self.max_bytes:
                (old, _), gone = self._docs.popitem(last=False)
                self._validated.pop(id(gone), None)
                self.bytes -= len(old)
        return document

    def remember(self, document: DocumentNode, key: tuple[Any, ...], run: Callable[[], T]) -> T:
        """`run()`'s answer about `document` (its validation errors, its cost: `key` says which
        question), remembered while the document is kept."""
        per_document = self._validated.get(id(document))
        if per_document is None:  # not a document this cache keeps
            return run()
        if key not in per_document:
            per_document[key] = run()
        return per_document[key]  # type: ignore[no-any-return]
