"""What one memory looks like in an export: the default object, or the objects a caller's
schema asks for (mem0 passes a JSON-Schema-like dict of `properties`).

With a schema, each object has exactly the schema's properties, looked up by name:
- a memory field: id, memory (or text), hash, user_id, agent_id, run_id, metadata, categories,
  created_at, updated_at, event_time (or occurred_at), invalidated_at, expires_at, immutable,
  feedback (the memory's current feedback: rating, reason, created_at; or null);
- otherwise the metadata value of that name, else null.
A property whose schema has `properties` is an object: projected from the value when that is an
object (a metadata value, `metadata` itself), else built from the memory again (so a schema may
group fields, e.g. {"owner": {"properties": {"user_id": {}, "agent_id": {}}}}). A property whose
schema has `items` keeps a list value, projecting each object item onto the items' properties."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from memory.errors import InvalidInput
from memory.models import Feedback, MemoryRecord

MAX_SCHEMA_DEPTH = 16
MAX_SCHEMA_PROPERTIES = 500
_MISSING = object()


def fields(record: MemoryRecord, feedback: Feedback | None = None) -> dict[str, Any]:
    """The memory (and the feedback given on it) as JSON values, under every name a schema may use."""
    iso = lambda t: t.isoformat() if t is not None else None  # noqa: E731
    return {
        "id": record.id, "memory": record.text, "text": record.text, "hash": record.hash,
        "user_id": record.scope.user_id, "agent_id": record.scope.agent_id, "run_id": record.scope.run_id,
        "metadata": dict(record.metadata), "categories": list(record.categories),
        "created_at": iso(record.created_at), "updated_at": iso(record.updated_at),
        "event_time": iso(record.event_time), "occurred_at": iso(record.event_time),
        "invalidated_at": iso(record.invalidated_at), "expires_at": iso(record.expires_at),
        "immutable": record.immutable,
        "feedback": None if feedback is None else {
            "rating": feedback.rating.value, "reason": feedback.reason, "created_at": iso(feedback.created_at)},
    }


_DEFAULT = ("id", "text", "user_id", "agent_id", "run_id", "metadata", "categories", "created_at", "updated_at",
            "event_time", "expires_at", "feedback")


def default_object(record: MemoryRecord, feedback: Feedback | None = None) -> dict[str, Any]:
    known = fields(record, feedback)
    return {name: known[name] for name in _DEFAULT}


def check_schema(schema: Any) -> dict[str, Any] | None:
    """The schema as a dict (mem0's client may send it as JSON text); InvalidInput when unusable."""
    if schema is None or schema == "" or schema == {}:
        return None
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            raise InvalidInput("schema must be a JSON object (or its JSON text)") from None
        except RecursionError:
            raise InvalidInput("schema is nested too deeply") from None
    if not isinstance(schema, Mapping):
        raise InvalidInput("schema must be a JSON object")
    if not isinstance(schema.get("properties"), Mapping) or not schema["properties"]:
        raise InvalidInput('schema needs "properties": the fields each exported object has')
    _count(schema, 0, [0])
    return dict(schema)


def _count(schema: Mapping[str, Any], depth: int, seen: list[int]) -> None:
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidInput(f"schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, Mapping):
            raise InvalidInput('"properties" must be an object of property schemas')
        seen[0] += len(props)
        if seen[0] > MAX_SCHEMA_PROPERTIES:
            raise InvalidInput(f"schema has more than {MAX_SCHEMA_PROPERTIES} properties")
        for name, sub in props.items():
            if not isinstance(sub, Mapping):
                raise InvalidInput(f"the schema of property {name!r} must be an object")
            _count(sub, depth + 1, seen)
    items = schema.get("items")
    if items is not None:
        if not isinstance(items, Mapping):
            raise InvalidInput('"items" must be a schema object')
        _count(items, depth + 1, seen)


def shaped(record: MemoryRecord, schema: Mapping[str, Any] | None, feedback: Feedback | None = None) -> dict[str, Any]:
    """One exported object: the default shape, or exactly the schema's properties."""
    if schema is None:
        return default_object(record, feedback)
    known = fields(record, feedback)
    return _project(known, schema, known)


def _lookup(source: Mapping[str, Any], name: str, known: Mapping[str, Any]) -> Any:
    if name in source:
        return source[name]
    if source is known:  # top level: a name that is no memory field is a metadata key
        return known["metadata"].get(name, _MISSING)
    return _MISSING


def _project(source: Mapping[str, Any], schema: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in schema["properties"].items():
        value = _lookup(source, name, known)
        out[name] = _value(value, sub, known)
    return out


def _value(value: Any, schema: Mapping[str, Any], known: Mapping[str, Any]) -> Any:
    if isinstance(schema.get("properties"), Mapping):
        if isinstance(value, Mapping):
            return _project(value, schema, known)
        if value is _MISSING:
            return _project(known, schema, known)  # a grouping of the memory's own fields
        return None
    if value is _MISSING:
        return None
    items = schema.get("items")
    if isinstance(items, Mapping) and isinstance(items.get("properties"), Mapping) and isinstance(value, list):
        return [_project(v, items, known) if isinstance(v, Mapping) else None for v in value]
    return value
