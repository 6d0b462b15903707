"""mem0's filter grammar (v2 "memory filters", and the OSS enhanced metadata filters) mapped
exactly onto the core's filter tree, or refused with InvalidInput (a 400) when it cannot be.

    {"AND": [{"user_id": "u1"}, {"run_id": "*"}, {"created_at": {"gte": "2025-01-01"}},
             {"NOT": {"categories": {"in": ["spam"]}}}, {"keywords": {"icontains": "pizza"}}]}

- Roots: `AND` / `OR` (non-empty lists), `NOT` (an object, or a list meaning "none of these",
  as mem0 OSS does), or a flat object whose keys are ANDed.
- Entity fields `user_id` / `agent_id` / `run_id`: a string (eq), the `*` wildcard (any non-null value),
  `eq` `ne` `in` `nin`. Equalities at the top level become the request's scope (see `split`).
  `app_id` does not exist here: refused.
- `created_at` / `updated_at`: eq ne gt gte lt lte in nin with ISO-8601 times or dates.
- `categories`: a string or `eq` (has that category), `ne`, `in` (has any), `nin`, `contains`.
- `keywords`: `icontains` (case-insensitive substring of the memory's text). mem0's `contains`
  is case-sensitive and the core matches text case-insensitively only: refused on strings.
- `memory_ids`: a list (or `in`) of ids.
- `metadata`: `{"metadata": {"key": value | {op: value}}}`; any other key is a metadata key too
  (mem0 OSS), with every operator above except `*`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memory import filters as f
from memory.errors import InvalidInput
from memory.filters import Op

ENTITY_FIELDS = ("user_id", "agent_id", "run_id")
TIME_FIELDS = ("created_at", "updated_at")
WILDCARD = "*"
_REFUSED = {
    "app_id": "AgentMem has no app_id: scope memories with user_id, agent_id and run_id (or use metadata)",
    "timestamp": "AgentMem has no per-memory timestamp: filter on created_at or updated_at",
    "org_id": "AgentMem has no organisations: a credential already fixes what you can see",
    "project_id": "AgentMem has no projects: a credential already fixes what you can see",
}
_COMPARE = {"eq": Op.EQ, "ne": Op.NE, "gt": Op.GT, "gte": Op.GTE, "lt": Op.LT, "lte": Op.LTE, "in": Op.IN, "nin": Op.NIN}
_LOGICAL = ("AND", "OR", "NOT")


@dataclass
class Split:
    """A mem0 filter as the core takes it: scope equalities lifted out, the rest as a tree."""

    scope: dict[str, str] = field(default_factory=dict)
    filter: f.Filter | None = None


def split(spec: Any, scope: Mapping[str, str | None] | None = None) -> Split:
    """Translate `spec`, lifting top-level `{"user_id": "u1"}`-style equalities into the scope
    (they mean the same thing and let the core search only that owner's memories). `scope` holds
    ids already given elsewhere in the request; a conflicting equality stays a condition (so the
    answer is exactly mem0's: nothing matches both)."""
    lifted = {k: v for k, v in (scope or {}).items() if v is not None}
    if spec is None:
        return Split(lifted)
    if not isinstance(spec, Mapping):
        raise InvalidInput("filters must be a JSON object")
    rest: list[f.Filter] = []
    for key, value in _conjuncts(spec):
        if key in ENTITY_FIELDS and isinstance(value, str) and value != WILDCARD and key not in lifted:
            lifted[key] = value
        else:
            rest.append(_translate({key: value}, 1))
    return Split(lifted, _all(rest))


def translate(spec: Any) -> f.Filter | None:
    """The whole filter as a tree, nothing lifted (None for no filter)."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise InvalidInput("filters must be a JSON object")
    return _translate(spec, 0) if spec else None


def _conjuncts(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (key, value) pairs ANDed at the root: the root's own keys, with a root `AND` opened."""
    pairs: list[tuple[str, Any]] = []
    for key, value in spec.items():
        if key == "AND" and isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                if not item:
                    raise InvalidInput("an AND entry must not be an empty object")
                pairs.extend(item.items())
        else:
            pairs.append((key, value))
    return pairs


def _all(parts: list[f.Filter]) -> f.Filter | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f.All(tuple(parts))


def _translate(spec: Mapping[str, Any], depth: int) -> f.Filter:
    if depth > f.MAX_DEPTH:
        raise InvalidInput(f"filter nesting deeper than {f.MAX_DEPTH}")
    if not spec:
        raise InvalidInput("a filter condition must not be an empty object")
    parts: list[f.Filter] = []
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("filter keys must be non-empty strings")
        if key in _LOGICAL:
            parts.append(_logical(key, value, depth))
        elif key == "metadata":
            parts.append(_metadata(value))
        else:
            parts.append(_field(key, value))
    result = _all(parts)
    assert result is not None
    return result


def _logical(key: str, value: Any, depth: int) -> f.Filter:
    if key == "NOT" and isinstance(value, Mapping):
        return f.Not(_translate(value, depth + 1))
    if not isinstance(value, list) or not value or not all(isinstance(v, Mapping) for v in value):
        raise InvalidInput(f"{key} needs a non-empty list of filter objects")
    subs = tuple(_translate(v, depth + 1) for v in value)
    if key == "AND":
        return f.All(subs)
    if key == "OR":
        return f.AnyOf(subs)
    return f.Not(f.AnyOf(subs))  # NOT [a, b]: none of them holds (mem0 OSS's must_not)


def _metadata(value: Any) -> f.Filter:
    if not isinstance(value, Mapping) or not value:
        raise InvalidInput('metadata filters look like {"metadata": {"key": "value"}}')
    parts = [_field(f"metadata.{key}", operand, metadata=True) for key, operand in value.items()]
    result = _all(parts)
    assert result is not None
    return result


def _field(name: str, value: Any, metadata: bool = False) -> f.Filter:
    if not metadata and name in _REFUSED:
        raise InvalidInput(f"filter on {name!r} is not supported: {_REFUSED[name]}")
    target = name if metadata or name in ENTITY_FIELDS or name in TIME_FIELDS else _core_name(name)
    ops = value if isinstance(value, Mapping) else {_implicit_op(name, value): value}
    if not ops:
        raise InvalidInput(f"empty operator object for {name!r}")
    parts = [_operator(name, target, str(op), operand) for op, operand in ops.items()]
    result = _all(parts)
    assert result is not None
    return result


def _core_name(name: str) -> str:
    if name.startswith("metadata."):
        return name
    return {"keywords": "text", "memory_ids": "id", "categories": "categories"}.get(name, f"metadata.{name}")


def _implicit_op(name: str, value: Any) -> str:
    if value == WILDCARD:
        return WILDCARD
    if isinstance(value, list):
        return "in"  # mem0 OSS list shorthand: {"field": ["a", "b"]}
    return "eq"


def _operator(name: str, target: str, op: str, operand: Any) -> f.Filter:
    if op == WILDCARD or (op == "eq" and operand == WILDCARD):
        if name not in ENTITY_FIELDS:
            raise InvalidInput(f"the * wildcard is supported on user_id, agent_id and run_id, not {name!r}")
        return f.Not(f.condition(target, Op.EQ, None))
    if name in ENTITY_FIELDS and op not in ("eq", "ne", "in", "nin"):
        raise InvalidInput(f"{name} supports eq, ne, in, nin and the * wildcard, not {op!r}")
    if name == "categories":
        return _category(op, operand)
    if name == "keywords":
        return _keywords(op, operand)
    if name == "memory_ids" and op not in ("eq", "in"):
        raise InvalidInput(f"memory_ids supports a list of ids (in), not {op!r}")
    if op == "icontains":
        if not isinstance(operand, str):
            raise InvalidInput(f"icontains on {name!r} needs a string")
        return f.condition(target, Op.CONTAINS, operand)
    if op == "contains":
        if isinstance(operand, str):
            raise InvalidInput(
                f"contains on {name!r} is case-sensitive in mem0, and AgentMem matches text case-insensitively "
                "only: use icontains (list values: contains works)"
            )
        return f.condition(target, Op.CONTAINS, operand)
    if op not in _COMPARE:
        raise InvalidInput(
            f"unknown filter operator {op!r} on {name!r}; use eq, ne, gt, gte, lt, lte, in, nin, contains, icontains or *"
        )
    return f.condition(target, _COMPARE[op], operand)


def _category(op: str, operand: Any) -> f.Filter:
    """The core's `contains` on a list is exact membership, which is what mem0 means here."""
    if op in ("eq", "ne", "contains"):
        if not isinstance(operand, str):
            raise InvalidInput(f"categories {op} needs a string")
        has = f.condition("categories", Op.CONTAINS, operand)
        return f.Not(has) if op == "ne" else has
    if op in ("in", "nin"):
        if not isinstance(operand, list) or not all(isinstance(c, str) for c in operand):
            raise InvalidInput(f"categories {op} needs a list of strings")
        any_of = f.AnyOf(tuple(f.condition("categories", Op.CONTAINS, c) for c in operand))
        return f.Not(any_of) if op == "nin" else any_of
    raise InvalidInput(f"categories supports eq, ne, in, nin and contains, not {op!r}")


def _keywords(op: str, operand: Any) -> f.Filter:
    if op == "icontains" and isinstance(operand, str):
        return f.condition("text", Op.CONTAINS, operand)
    if op == "contains":
        raise InvalidInput(
            "keywords contains is case-sensitive in mem0, and AgentMem matches text case-insensitively only: "
            "use icontains"
        )
    raise InvalidInput('keywords supports {"icontains": "<text>"}')
