"""The filter language for searches and lists.

A filter is a tree: `Condition(field, op, value)`, `All([...])` (AND), `Any([...])` (OR),
`Not(item)`. Fields are metadata keys (`topic` or `metadata.topic`) or the record's own
attributes: `created_at`, `updated_at`, `invalidated_at`, `expires_at`, `user_id`, `agent_id`, `run_id`,
`text`, `categories`. The mem0-style dict form is accepted by `parse_filter`:

    {"AND": [{"topic": "food"}, {"score": {"gte": 3}}], "NOT": {"tag": {"in": ["x"]}}}

A bare value means `eq`. Comparisons never raise on mismatched types: a condition whose
value cannot be compared to the field's value is simply false (and a missing field is false
for every operator except `ne` and `nin`).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Iterable, Mapping, Union

from memory.errors import InvalidInput
from memory.models import MemoryRecord

_MISSING = object()
RECORD_FIELDS = frozenset(
    {"created_at", "updated_at", "invalidated_at", "expires_at", "user_id", "agent_id", "run_id", "text", "categories",
     "id"}
)
_TIME_FIELDS = frozenset({"created_at", "updated_at", "invalidated_at", "expires_at"})
MAX_DEPTH = 16
# every condition is evaluated against every scanned record: these bound the work one request buys
MAX_CONDITIONS = 100
MAX_OPERANDS = 500
# records matched between two yields to the event loop
_CHUNK = 200


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    CONTAINS = "contains"


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter = Union[Condition, All, AnyOf, Not]


def condition(field: str, op: str | Op, value: Any) -> Condition:
    """Build a validated condition (raises InvalidInput)."""
    try:
        op = Op(op)
    except ValueError:
        raise InvalidInput(f"unknown filter operator {op!r}; use one of {', '.join(o.value for o in Op)}") from None
    if not field or not isinstance(field, str):
        raise InvalidInput("a filter field must be a non-empty string")
    if op in (Op.IN, Op.NIN) and not isinstance(value, (list, tuple)):
        raise InvalidInput(f"filter operator {op.value!r} on {field!r} needs a list value")
    if isinstance(value, (list, tuple)) and len(value) > MAX_OPERANDS:
        raise InvalidInput(f"filter operator {op.value!r} on {field!r} takes at most {MAX_OPERANDS} values")
    name = field.removeprefix("metadata.")
    if name in _TIME_FIELDS and not field.startswith("metadata."):
        value = _parse_time_value(field, value)
    return Condition(field, op, value)


def _parse_time_value(field: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_parse_time_value(field, v) for v in value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field} filter needs an ISO-8601 time, got {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidInput(f"{field} filter needs an ISO-8601 time, got {value!r}")


def parse_filter(spec: Mapping[str, Any] | None, _depth: int = 0) -> Filter | None:
    """Parse the dict form; None or {} means no filter."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise InvalidInput("a filter must be an object")
    if _depth > MAX_DEPTH:
        raise InvalidInput(f"filter nesting deeper than {MAX_DEPTH}")
    parts: list[Filter] = []
    for key, value in spec.items():
        upper = key.upper() if isinstance(key, str) else key
        if upper in ("AND", "OR"):
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidInput(f"{upper} needs a non-empty list of filters")
            subs = tuple(f for f in (parse_filter(v, _depth + 1) for v in value) if f is not None)
            parts.append(All(subs) if upper == "AND" else AnyOf(subs))
        elif upper == "NOT":
            sub = parse_filter(value, _depth + 1)
            if sub is None:
                raise InvalidInput("NOT needs a filter")
            parts.append(Not(sub))
        elif isinstance(value, Mapping):
            if not value:
                raise InvalidInput(f"empty operator object for field {key!r}")
            for op, operand in value.items():
                parts.append(condition(key, op, operand))
        else:
            parts.append(condition(key, Op.EQ, value))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def check_size(flt: Filter | None) -> Filter | None:
    """The filter itself, refused (InvalidInput) when it holds more than MAX_CONDITIONS conditions."""
    count, stack = 0, [flt] if flt is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            count += 1
            if count > MAX_CONDITIONS:
                raise InvalidInput(f"a filter takes at most {MAX_CONDITIONS} conditions")
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            stack.extend(node.items)
    return flt


async def select(flt: Filter | None, records: Iterable[MemoryRecord]) -> list[MemoryRecord]:
    """The records `flt` matches, in order; yields to the event loop between chunks."""
    if flt is None:
        return list(records)
    out: list[MemoryRecord] = []
    for i, record in enumerate(records, 1):
        if matches(flt, record):
            out.append(record)
        if i % _CHUNK == 0:
            await asyncio.sleep(0)
    return out


def _field_value(record: MemoryRecord, field: str) -> Any:
    if field.startswith("metadata."):
        return record.metadata.get(field[len("metadata."):], _MISSING)
    if field in RECORD_FIELDS:
        if field in ("user_id", "agent_id", "run_id"):
            return getattr(record.scope, field)
        return getattr(record, field)
    return record.metadata.get(field, _MISSING)


def _compare(actual: Any, op: Op, expected: Any) -> bool:
    if op is Op.EQ:
        return actual == expected
    if op is Op.NE:
        return actual != expected
    if op is Op.IN:
        return any(actual == e for e in expected)
    if op is Op.NIN:
        return all(actual != e for e in expected)
    if op is Op.CONTAINS:
        if isinstance(actual, str) and isinstance(expected, str):
            return expected.casefold() in actual.casefold()
        if isinstance(actual, (list, tuple)):
            return expected in actual
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    try:
        if op is Op.GT:
            return actual > expected
        if op is Op.GTE:
            return actual >= expected
        if op is Op.LT:
            return actual < expected
        return actual <= expected
    except TypeError:
        return False


def matches(flt: Filter | None, record: MemoryRecord) -> bool:
    if flt is None:
        return True
    if isinstance(flt, Condition):
        actual = _field_value(record, flt.field)
        if actual is _MISSING:
            return flt.op in (Op.NE, Op.NIN)
        return _compare(actual, flt.op, flt.value)
    if isinstance(flt, All):
        return all(matches(f, record) for f in flt.items)
    if isinstance(flt, AnyOf):
        return any(matches(f, record) for f in flt.items)
    return not matches(flt.item, record)


def to_spec(flt: Filter | None) -> dict[str, Any] | None:
    """The tree in the dict form `parse_filter` reads back (times as ISO-8601 text), for storing."""
    if flt is None:
        return None
    if isinstance(flt, Condition):
        return {flt.field: {flt.op.value: _plain(flt.value)}}
    if isinstance(flt, Not):
        return {"NOT": to_spec(flt.item)}
    return {"AND" if isinstance(flt, All) else "OR": [to_spec(item) for item in flt.items]}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
