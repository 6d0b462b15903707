"""Conversions between domain types and column values. No I/O, no sessions."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy.engine import Dialect, Row

from memory.errors import InvalidInput
from memory.models import (
    ChangeEvent,
    GraphWork,
    HistoryEntry,
    MemoryRecord,
    Scope,
    StoredMemory,
    Triple,
    Vector,
)
from history.tables import graph_outbox, memories, memory_history

AnyRow = Row[*tuple[Any, ...]]

# Version of the outbox payload layout, so a later release can still read rows queued by this one.
PAYLOAD_VERSION = 1

# Columns read back into a MemoryRecord (the embedding is left out: most reads never need it).
RECORD_COLUMNS = (
    memories.c.id,
    memories.c.text,
    memories.c.hash,
    memories.c.user_id,
    memories.c.agent_id,
    memories.c.run_id,
    memories.c.metadata,
    memories.c.categories,
    memories.c.created_at,
    memories.c.updated_at,
    memories.c.invalidated_at,
    memories.c.invalidation_reason,
    memories.c.occurred_at,
    memories.c.immutable,
    memories.c.expires_at,
)

HISTORY_COLUMNS = tuple(memory_history.c)
OUTBOX_COLUMNS = (graph_outbox.c.id, graph_outbox.c.payload, graph_outbox.c.created_at)


@lru_cache(maxsize=8192)
def scope_of(user_id: str | None, agent_id: str | None, run_id: str | None) -> Scope:
    """Rows share few owners; caching skips re-validating the same scope for every row."""
    return Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)


def encode_vector(vector: Vector) -> bytes:
    array = np.asarray(vector)
    if array.ndim != 1:
        raise InvalidInput(f"a memory embedding must be one vector, got shape {array.shape}")
    # explicit little-endian so files move between machines unchanged
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def decode_vector(blob: bytes) -> Vector:
    # astype copies: frombuffer's view is read-only and tied to the driver's buffer
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def memory_values(stored: StoredMemory, seq: int) -> dict[str, Any]:
    record = stored.record
    return {
        "id": record.id,
        "text": record.text,
        "hash": record.hash,
        "user_id": record.scope.user_id,
        "agent_id": record.scope.agent_id,
        "run_id": record.scope.run_id,
        "metadata": dict(record.metadata),
        "categories": list(record.categories),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "invalidated_at": record.invalidated_at,
        "invalidation_reason": record.invalidation_reason,
        "occurred_at": record.occurred_at,
        "immutable": record.immutable,
        "expires_at": record.expires_at,
        "embedding": encode_vector(stored.embedding),
        "seq": seq,
    }


class DriverRows:
    """Rows that start with RECORD_COLUMNS as the database driver itself returns them (no
    SQLAlchemy result around them), converted by each column's own type for `dialect` (its
    SQLAlchemy result processor), as a read through SQLAlchemy converts them."""

    def __init__(self, dialect: Dialect) -> None:
        self._convert = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                         for column in RECORD_COLUMNS]

    def record(self, row: Sequence[Any]) -> MemoryRecord:
        return record_from_row([value if convert is None or value is None else convert(value)
                                for convert, value in zip(self._convert, row)])


def record_from_row(row: AnyRow | Sequence[Any]) -> MemoryRecord:
    """A row selected with RECORD_COLUMNS."""
    (id_, text, hash_, user_id, agent_id, run_id, meta, categories, created, updated, invalidated, reason,
     occurred, immutable, expires) = row
    return MemoryRecord(
        id=id_,
        text=text,
        hash=hash_,
        scope=scope_of(user_id, agent_id, run_id),
        metadata=meta or {},
        created_at=created,
        updated_at=updated,
        invalidated_at=invalidated,
        invalidation_reason=reason,
        categories=tuple(categories or ()),
        occurred_at=occurred,
        immutable=bool(immutable),
        expires_at=expires,
    )


def history_values(entry: HistoryEntry) -> dict[str, Any]:
    # seq is left out on purpose: the database assigns it
    return {
        "memory_id": entry.memory_id,
        "event": entry.event.value,
        "old_text": entry.old_text,
        "new_text": entry.new_text,
        "user_id": entry.scope.user_id,
        "agent_id": entry.scope.agent_id,
        "run_id": entry.scope.run_id,
        "actor": entry.actor,
        "role": entry.role,
        "reason": entry.reason,
        "created_at": entry.created_at,
    }


def history_from_row(row: AnyRow) -> HistoryEntry:
    m = row._mapping
    return HistoryEntry(
        memory_id=m["memory_id"],
        event=ChangeEvent(m["event"]),
        old_text=m["old_text"],
        new_text=m["new_text"],
        scope=scope_of(m["user_id"], m["agent_id"], m["run_id"]),
        created_at=m["created_at"],
        actor=m["actor"],
        role=m["role"],
        reason=m["reason"],
        seq=m["seq"],
    )


def outbox_values(work: GraphWork) -> dict[str, Any]:
    payload = {
        "v": PAYLOAD_VERSION,
        "scope": {
            "user_id": work.scope.user_id,
            "agent_id": work.scope.agent_id,
            "run_id": work.scope.run_id,
        },
        "memory_id": work.memory_id,
        "triples": [
            {
                "source": t.source,
                "relation": t.relation,
                "destination": t.destination,
                "source_type": t.source_type,
                "destination_type": t.destination_type,
                "valid_from": t.valid_from.isoformat() if t.valid_from is not None else None,
                "negated": t.negated,
            }
            for t in work.triples
        ],
        # float() also unwraps numpy scalars, which json cannot serialise
        "entity_embeddings": {name: [float(x) for x in vec] for name, vec in work.entity_embeddings.items()},
        "exclusive_relations": sorted(work.exclusive_relations),
    }
    return {"id": work.id, "payload": payload, "created_at": work.created_at, "attempts": 0}


def work_from_row(row: AnyRow) -> GraphWork:
    """A row selected with OUTBOX_COLUMNS."""
    id_, payload, created_at = row
    scope = payload["scope"]
    return GraphWork(
        id=id_,
        scope=scope_of(scope.get("user_id"), scope.get("agent_id"), scope.get("run_id")),
        triples=tuple(_triple(t) for t in payload["triples"]),
        memory_id=payload.get("memory_id"),
        created_at=created_at,
        entity_embeddings={name: tuple(float(x) for x in vec) for name, vec in payload["entity_embeddings"].items()},
        exclusive_relations=frozenset(payload["exclusive_relations"]),
    )


def _triple(stored: dict[str, Any]) -> Triple:
    """A triple from an outbox payload (rows written before valid_from/negated lack them)."""
    valid_from = stored.get("valid_from")
    return Triple(**{**stored, "valid_from": datetime.fromisoformat(valid_from) if valid_from else None})
