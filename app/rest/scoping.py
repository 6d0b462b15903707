"""Turning a mem0 request's ids and filters into the core's scope and filter tree."""
from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from app.rest import mem0_filters
from app.rest.dispatch import Ctx
from memory import filters as f
from memory.errors import InvalidInput
from memory.models import Scope


def scope_and_filter(ids: Mapping[str, str | None], spec: Any, *extra: f.Filter | None) -> tuple[Scope | None, f.Filter | None]:
    """Top-level ids plus filter equalities as the scope (None when empty); the rest as one tree."""
    split = mem0_filters.split(spec, ids)
    parts = [p for p in (split.filter, *extra) if p is not None]
    tree = parts[0] if len(parts) == 1 else (f.All(tuple(parts)) if parts else None)
    return (Scope(**split.scope) if split.scope else None), tree


def owner_scope(ids: Mapping[str, str | None], spec: Any, what: str) -> Scope:
    """For writes and deletes: only the owner's ids are allowed, as plain equalities."""
    split = mem0_filters.split(spec, ids)
    if split.filter is not None:
        raise InvalidInput(
            f"{what} takes the owner's ids only (user_id, agent_id, run_id as plain values), not a filter"
        )
    return Scope(**split.scope)


def categories_filter(categories: list[str] | None) -> f.Filter | None:
    return None if categories is None else mem0_filters.translate({"categories": {"in": categories}})


def metadata_filter(metadata: Mapping[str, Any] | None) -> f.Filter | None:
    return mem0_filters.translate({"metadata": dict(metadata)}) if metadata else None


def created_between(start: str | None, end: str | None) -> f.Filter | None:
    spec = {op: value for op, value in (("gte", start), ("lte", end)) if value is not None}
    return mem0_filters.translate({"created_at": spec}) if spec else None


def parse_filters_text(text: str | None) -> Any:
    """A filter object sent in a query string: JSON, or the Python dict text that httpx makes of
    `params={"filters": {...}}` (which is what MemoryClient.delete_all(filters=...) sends).
    literal_eval only builds literals; it never runs code."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:
        raise InvalidInput("filters are nested too deeply") from None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InvalidInput("filters must be a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidInput("filters must be a JSON object")
    return value


def check_graph(ctx: Ctx, wanted: bool | None) -> None:
    """mem0's enable_graph is a per-request switch; here the server's configuration decides, so a
    request that asks for the other setting is refused rather than quietly not honoured."""
    enabled = ctx.settings.graph.enabled
    if wanted is not None and wanted != enabled:
        state = "enabled" if enabled else "disabled"
        raise InvalidInput(f"enable_graph={str(wanted).lower()}, but graph memory is {state} on this server")


def pick_limit(limit: int | None, top_k: int | None, default: int) -> int:
    if limit is not None and top_k is not None and limit != top_k:
        raise InvalidInput("limit and top_k are the same setting: give one (or equal values)")
    return limit or top_k or default
