"""Export and import of the whole graph (or one scope's part), for `python -m app export/import`.

Rows are plain JSON-ready dicts with ISO-8601 times, carrying every stored property except
per-write bookkeeping (write_id): entities with their embeddings, relations valid or not with
the ids of the memories that stated them (memory_ids) and still support them (support).

Importing is idempotent and merges into a graph that already has data: an entity is keyed by
(owner, name); a valid relation by (owner, source, type, destination), so importing a fact the
graph already holds adds its memory ids to the existing relation instead of a second copy; an
invalidated relation is history, keyed by its creation time as well."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from graph.convert import from_micros, scope_params, to_micros
from graph.cypher import _scope_filter, checked_type
from graph.store import Neo4jGraphStore
from memory.models import Scope

PAGE = 1000

DUMP_ENTITIES = (
    f"MATCH (e:Entity) WHERE {_scope_filter('e')}\n"
    "  AND ($after_key IS NULL OR e.scope_key > $after_key OR (e.scope_key = $after_key AND e.name > $after_name))\n"
    "RETURN e.scope_key AS scope_key, e.name AS name, e.type AS type, e.user_id AS user_id,"
    " e.agent_id AS agent_id, e.run_id AS run_id, e.created_at AS created_at, e.embedding AS embedding\n"
    "ORDER BY scope_key, name LIMIT $limit"
)
# relations hang between entities of one owner (graph/cypher.py merge_relations), so paging
# by the source entity's key and walking its outgoing relations lists each exactly once
DUMP_RELATIONS_OF = (
    "UNWIND $keys AS k\n"
    "MATCH (s:Entity {scope_key: k.scope_key, name: k.name})-[r]->(d:Entity)\n"
    "RETURN r.scope_key AS scope_key, s.name AS source, type(r) AS relation, d.name AS destination,"
    " r.user_id AS user_id, r.agent_id AS agent_id, r.run_id AS run_id, r.created_at AS created_at,"
    " r.valid AS valid, r.invalidated_at AS invalidated_at, r.memory_id AS memory_id,"
    " r.memory_ids AS memory_ids, r.support AS support, r.valid_from AS valid_from\n"
    "ORDER BY created_at, source, relation, destination"
)
RESTORE_ENTITIES = (
    "UNWIND $rows AS row\n"
    "MERGE (e:Entity {scope_key: row.scope_key, name: row.name})\n"
    "  ON CREATE SET e.type = row.type, e.user_id = row.user_id, e.agent_id = row.agent_id,"
    " e.run_id = row.run_id, e.created_at = row.created_at, e.embedding = row.embedding\n"
    "  ON MATCH SET e.type = CASE WHEN e.type = 'entity' THEN row.type ELSE e.type END,"
    " e.embedding = coalesce(e.embedding, row.embedding)\n"
    "RETURN count(e) AS n"
)


def restore_valid(rel_type: str) -> str:
    t = checked_type(rel_type)
    union = "r.{p} + [m IN row.{p} WHERE NOT m IN r.{p}]"
    return (
        "UNWIND $rows AS row\n"
        "MATCH (s:Entity {scope_key: row.scope_key, name: row.source})\n"
        "MATCH (d:Entity {scope_key: row.scope_key, name: row.destination})\n"
        f"MERGE (s)-[r:`{t}` {{scope_key: row.scope_key, valid: true}}]->(d)\n"
        "  ON CREATE SET r.user_id = row.user_id, r.agent_id = row.agent_id, r.run_id = row.run_id,"
        " r.created_at = row.created_at, r.memory_id = row.memory_id, r.memory_ids = row.memory_ids,"
        " r.support = row.support, r.valid_from = row.valid_from\n"
        f"  ON MATCH SET r.memory_ids = {union.format(p='memory_ids')}, r.support = {union.format(p='support')}\n"
        "RETURN count(r) AS n"
    )


def restore_invalid(rel_type: str) -> str:
    t = checked_type(rel_type)
    return (
        "UNWIND $rows AS row\n"
        "MATCH (s:Entity {scope_key: row.scope_key, name: row.source})\n"
        "MATCH (d:Entity {scope_key: row.scope_key, name: row.destination})\n"
        f"MERGE (s)-[r:`{t}` {{scope_key: row.scope_key, valid: false, created_at: row.created_at}}]->(d)\n"
        "  ON CREATE SET r.user_id = row.user_id, r.agent_id = row.agent_id, r.run_id = row.run_id,"
        " r.invalidated_at = row.invalidated_at, r.memory_id = row.memory_id,"
        " r.memory_ids = row.memory_ids, r.support = row.support, r.valid_from = row.valid_from\n"
        "RETURN count(r) AS n"
    )


def statements() -> list[tuple[str, str]]:
    """Every statement this module sends, for the Neo4j lint test."""
    return [("DUMP_ENTITIES", DUMP_ENTITIES), ("DUMP_RELATIONS_OF", DUMP_RELATIONS_OF),
            ("RESTORE_ENTITIES", RESTORE_ENTITIES), ("restore_valid", restore_valid("WORKS_AT")),
            ("restore_invalid", restore_invalid("WORKS_AT"))]


def _iso(micros: int | None) -> str | None:
    at = from_micros(micros)
    return at.isoformat() if at is not None else None


def _micros(value: str | None) -> int | None:
    return to_micros(datetime.fromisoformat(value)) if value is not None else None


async def dump(store: Neo4jGraphStore, scope: Scope | None) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """("entity", row) and ("relation", row) pairs; a page's relations follow its entities."""
    after: dict[str, Any] = {"after_key": None, "after_name": None}
    while True:
        # package-internal use of the store's transaction plumbing (retries, error translation)
        page = await store._query(DUMP_ENTITIES, {**scope_params(scope), **after, "limit": PAGE})
        if not page:
            return
        for row in page:
            yield "entity", {**row, "created_at": _iso(row["created_at"]),
                             "embedding": list(row["embedding"]) if row["embedding"] is not None else None}
        keys = [{"scope_key": r["scope_key"], "name": r["name"]} for r in page]
        for rel in await store._query(DUMP_RELATIONS_OF, {"keys": keys}):
            yield "relation", {**rel, "created_at": _iso(rel["created_at"]),
                               "invalidated_at": _iso(rel["invalidated_at"]), "valid_from": _iso(rel["valid_from"]),
                               "memory_ids": list(rel["memory_ids"] or []), "support": list(rel["support"] or [])}
        after = {"after_key": page[-1]["scope_key"], "after_name": page[-1]["name"]}


async def restore(store: Neo4jGraphStore, entities: Sequence[dict[str, Any]], relations: Sequence[dict[str, Any]]) -> None:
    """Entities first (relations attach to them), in chunks of PAGE rows per transaction."""
    rows = [{**e, "created_at": _micros(e["created_at"])} for e in entities]
    for start in range(0, len(rows), PAGE):
        await store._query(RESTORE_ENTITIES, {"rows": rows[start:start + PAGE]}, write=True)
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
    for rel in relations:
        row = {**rel, "created_at": _micros(rel["created_at"]), "invalidated_at": _micros(rel["invalidated_at"]),
               "valid_from": _micros(rel.get("valid_from"))}  # dumps written before valid_from lack it
        groups[(checked_type(rel["relation"]), bool(rel["valid"]))].append(row)
    for (rel_type, valid), group in groups.items():
        statement = restore_valid(rel_type) if valid else restore_invalid(rel_type)
        for start in range(0, len(group), PAGE):
            await store._query(statement, {"rows": group[start:start + PAGE]}, write=True)
