"""The JSON Lines export format, version 1. One object per line, each with a "kind":

- header: {"format": "agentmem-export", "version": 1, "schema": <alembic revision>, "exported_at",
  "scope": {...} | null, "dimension", "vector_space": {"model", "dimension", "weights"} (absent in
  older files): the embedding model the vectors come from; an import into another one re-embeds}
- memory: {"id", "record": {...} | null (deleted; history only), "embedding": base64 of
  little-endian float32 | null, "history": [{event, old_text, new_text, scope, created_at, actor,
  role, reason}, ...], "feedback": {rating, reason, actor, created_at} | null (absent in older files)}
- entity / relation: graph rows (graph/dump.py)
- graph_work: an outbox row (graph work not yet applied when the export ran)
- footer: {"counts": {...}}: an import without it reports the file as truncated

Times are ISO-8601 with microseconds, so every value round-trips exactly."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import numpy as np

from memory.errors import InvalidInput
from memory.models import ChangeEvent, Feedback, FeedbackRating, HistoryEntry, MemoryRecord, Scope, Vector

FORMAT = "agentmem-export"
VERSION = 1


def scope_json(scope: Scope) -> dict[str, str | None]:
    return {"user_id": scope.user_id, "agent_id": scope.agent_id, "run_id": scope.run_id}


def scope_from(data: dict[str, Any] | None) -> Scope:
    data = data or {}
    return Scope(data.get("user_id"), data.get("agent_id"), data.get("run_id"))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_json(rec: MemoryRecord) -> dict[str, Any]:
    return {
        "text": rec.text, "hash": rec.hash, "scope": scope_json(rec.scope), "metadata": dict(rec.metadata),
        "categories": list(rec.categories), "created_at": _iso(rec.created_at), "updated_at": _iso(rec.updated_at),
        "invalidated_at": _iso(rec.invalidated_at), "invalidation_reason": rec.invalidation_reason,
        "occurred_at": _iso(rec.occurred_at), "immutable": rec.immutable, "expires_at": _iso(rec.expires_at),
    }


def record_from(id: str, data: dict[str, Any]) -> MemoryRecord:
    created, updated = _time(data["created_at"]), _time(data["updated_at"])
    if created is None or updated is None:
        raise InvalidInput(f"memory {id}: created_at and updated_at are required")
    return MemoryRecord(
        id=id, text=data["text"], hash=data["hash"], scope=scope_from(data["scope"]),
        metadata=data.get("metadata") or {}, created_at=created, updated_at=updated,
        invalidated_at=_time(data.get("invalidated_at")), invalidation_reason=data.get("invalidation_reason"),
        categories=tuple(data.get("categories") or ()), occurred_at=_time(data.get("occurred_at")) or created,
        immutable=_flag(id, data.get("immutable", False)),  # lines exported before immutable existed lack it
        expires_at=_time(data.get("expires_at")),  # and those before expiry, expires_at
    )


def _flag(id: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"memory {id}: immutable must be true or false, got {value!r}")
    return value


def vector_json(vector: Vector) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def vector_from(text: str, dimension: int) -> Vector:
    vector = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)
    if vector.shape != (dimension,):
        raise InvalidInput(f"an embedding has {vector.shape[0]} dimensions; this deployment uses {dimension}")
    return vector


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "event": entry.event.value, "old_text": entry.old_text, "new_text": entry.new_text,
        "scope": scope_json(entry.scope), "created_at": _iso(entry.created_at), "actor": entry.actor,
        "role": entry.role, "reason": entry.reason,
    }


def history_from(memory_id: str, data: dict[str, Any]) -> HistoryEntry:
    created = _time(data["created_at"])
    assert created is not None
    return HistoryEntry(
        memory_id=memory_id, event=ChangeEvent(data["event"]), old_text=data.get("old_text"),
        new_text=data.get("new_text"), scope=scope_from(data.get("scope")), created_at=created,
        actor=data.get("actor"), role=data.get("role"), reason=data.get("reason"),
    )


def feedback_json(feedback: Feedback | None) -> dict[str, Any] | None:
    if feedback is None:
        return None
    return {"rating": feedback.rating.value, "reason": feedback.reason, "actor": feedback.actor,
            "created_at": _iso(feedback.created_at)}


def feedback_from(memory_id: str, data: dict[str, Any]) -> Feedback:
    created = _time(data.get("created_at"))
    try:
        rating = FeedbackRating(data.get("rating"))
    except ValueError:
        raise InvalidInput(f"memory {memory_id}: unknown feedback rating {data.get('rating')!r}") from None
    if created is None:
        raise InvalidInput(f"memory {memory_id}: feedback needs created_at")
    return Feedback(memory_id, rating, data.get("reason"), data.get("actor"), created)
