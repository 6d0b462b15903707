"""Normalisation and the conversions between domain types and Cypher values/records."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from memory.errors import InvalidInput
from memory.naming import RELATION_TYPE, entity_type, relation_type
from memory.models import Entity, GraphQuery, Relation, Scope

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch; naive datetimes are taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_or_none(at: datetime | None) -> int | None:
    return to_micros(at) if at is not None else None


def from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=int(value))


def scope_params(scope: Scope | None) -> dict[str, str | None]:
    scope = scope or Scope()
    return {"user_id": scope.user_id, "agent_id": scope.agent_id, "run_id": scope.run_id}


def _scope_of(record: Mapping[str, Any]) -> Scope:
    return Scope(user_id=record["user_id"], agent_id=record["agent_id"], run_id=record["run_id"])


def to_relation(record: Mapping[str, Any]) -> Relation:
    created = from_micros(record["created_at"])
    assert created is not None, "relations are always written with created_at"
    return Relation(
        source=record["source"],
        relation=record["relation"],
        destination=record["destination"],
        scope=_scope_of(record),
        created_at=created,
        valid=bool(record["valid"]),
        invalidated_at=from_micros(record["invalidated_at"]),
        memory_id=record["memory_id"],
        valid_from=from_micros(record.get("valid_from")),
        valid_to=from_micros(record.get("valid_to")),
    )


def to_entity(record: Mapping[str, Any]) -> Entity:
    return Entity(
        name=record["name"],
        type=record["type"] or "entity",
        scope=_scope_of(record),
        created_at=from_micros(record["created_at"]),
    )


def relation_cursor(relation: Relation) -> str:
    """The port's opaque keyset position for relations()."""
    return f"{relation.created_at.isoformat()}|{relation.source}|{relation.relation}|{relation.destination}"


_CURSOR = re.compile(r"^([^|]+)\|(.*?)\|(" + RELATION_TYPE.pattern[1:-1] + r")\|(.*)$", re.DOTALL)


def parse_relation_cursor(after: str | None) -> dict[str, Any]:
    """Inverse of relation_cursor. Names are lower case, so the first '|TYPE|' (upper case)
    separates source from destination even when a name contains '|'."""
    keys = ("after_at", "after_source", "after_relation", "after_destination")
    if after is None:
        return dict.fromkeys(keys)
    match = _CURSOR.match(after)
    if match is None:
        raise InvalidInput(f"malformed relations cursor: {after!r}")
    try:
        at = datetime.fromisoformat(match.group(1))
    except ValueError as exc:
        raise InvalidInput(f"malformed relations cursor time: {match.group(1)!r}") from exc
    return dict(zip(keys, (to_micros(at), match.group(2), match.group(3), match.group(4)), strict=True))


def filter_params(query: GraphQuery) -> dict[str, Any]:
    contains = " ".join((query.name_contains or "").split()).lower() or None
    return {
        "name_contains": contains,
        "entity_type": entity_type(query.entity_type) if query.entity_type else None,
        "relation": relation_type(query.relation) if query.relation else None,
        "include_invalid": query.include_invalid,
        "as_of": micros_or_none(query.as_of),
    }
