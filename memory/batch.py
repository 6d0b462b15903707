"""Checking a batch update or delete before anything is written: every item is looked at, and
every refusal is reported (which item, why), so that a batch is applied whole or not at all."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memory.errors import AgentMemError, BatchRejected, Immutable, InvalidInput, ItemError, NotFound
from memory.models import MemoryRecord, Scope
from memory.validation import check_metadata, check_text

MaySee = Callable[[Scope], bool]


@dataclass(frozen=True, slots=True)
class MemoryEdit:
    """One item of a batch update: new text and/or new metadata (replacing the old) for a memory."""

    memory_id: str
    text: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CheckedEdit:
    old: MemoryRecord
    text: str | None
    metadata: dict[str, Any] | None


def _target(id: Any, found: Mapping[str, MemoryRecord], seen: set[str], may_see: MaySee | None) -> MemoryRecord:
    if not isinstance(id, str) or not id:
        raise InvalidInput("memory_id must be a non-empty string")
    if id in seen:
        raise InvalidInput("the same memory is named twice in this batch")
    seen.add(id)
    rec = found.get(id)
    # a memory the caller may not see is reported exactly like one that does not exist
    if rec is None or (may_see is not None and not may_see(rec.scope)):
        raise NotFound(f"memory {id!r} does not exist")
    return rec


def _item_error(index: int, id: Any, exc: AgentMemError) -> ItemError:
    return ItemError(index, id if isinstance(id, str) else repr(id), exc.code, exc.public)


def check_edits(edits: Sequence[MemoryEdit], found: Mapping[str, MemoryRecord],
                may_see: MaySee | None) -> list[CheckedEdit]:
    """The edits with their targets, or BatchRejected naming every item that cannot be applied."""
    seen: set[str] = set()
    out: list[CheckedEdit] = []
    errors: list[ItemError] = []
    for i, edit in enumerate(edits):
        try:
            rec = _target(edit.memory_id, found, seen, may_see)
            if edit.text is None and edit.metadata is None:
                raise InvalidInput("give text and/or metadata to update")
            text = check_text(edit.text) if edit.text is not None else None
            meta = check_metadata(edit.metadata) if edit.metadata is not None else None
            if rec.immutable:
                raise Immutable(f"memory {rec.id!r} is immutable: delete it and add it again to change it")
            out.append(CheckedEdit(rec, text, meta))
        except AgentMemError as exc:
            errors.append(_item_error(i, edit.memory_id, exc))
    if errors:
        raise BatchRejected("the batch update", errors)
    return out


def check_deletes(ids: Sequence[str], found: Mapping[str, MemoryRecord], may_see: MaySee | None) -> list[MemoryRecord]:
    """The memories to delete, or BatchRejected naming every id that cannot be deleted."""
    seen: set[str] = set()
    out: list[MemoryRecord] = []
    errors: list[ItemError] = []
    for i, id in enumerate(ids):
        try:
            out.append(_target(id, found, seen, may_see))
        except AgentMemError as exc:
            errors.append(_item_error(i, id, exc))
    if errors:
        raise BatchRejected("the batch delete", errors)
    return out
