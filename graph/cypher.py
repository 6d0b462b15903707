"""Every Cypher statement the graph adapter sends, by name.

Portable to Neo4j 5 and to ArcadeDB's Bolt endpoint (tests/integration/test_cypher_portability.py
lints them with Neo4j's own parser; the integration tests run them on ArcadeDB).

Values always travel as parameters. The exceptions are a relationship type (neither server
accepts one as a parameter in a pattern) and a path length: those are produced by the functions
below, which validate them before they are placed in the text.

Model: (:Entity {scope_key, name, type, user_id, agent_id, run_id, created_at, embedding})
unique on (scope_key, name); relationships [:TYPE {scope_key, user_id, agent_id, run_id,
created_at, valid_from, valid, invalidated_at, valid_to, memory_id, memory_ids, support, write_id}]
(valid_from: when the statement says the relation began, absent means since created_at;
valid_to: when it stopped holding, as the statement that ended it said, else when it was
invalidated; absent on relations invalidated before it was kept, which read invalidated_at).
Times are integer
microseconds since the epoch (UTC): ordered, exact for Python datetimes, and the same type on
both servers (temporal values are not).
"""

from __future__ import annotations

from collections.abc import Iterator

from memory.errors import InvalidInput
from memory.naming import RELATION_TYPE

MAX_DEPTH = 3


def checked_type(rel_type: str) -> str:
    """The relationship type, safe to splice into a statement (else InvalidInput)."""
    if not isinstance(rel_type, str) or not RELATION_TYPE.fullmatch(rel_type):  # '$' allows '\n'
        raise InvalidInput(
            f"relation type must match {RELATION_TYPE.pattern} after normalisation (got {rel_type!r})"
        )
    return rel_type


def _scope_filter(alias: str) -> str:
    # Read scopes are prefixes (Scope.contains): a field left unset matches anything.
    return (
        f"($user_id IS NULL OR {alias}.user_id = $user_id)"
        f" AND ($agent_id IS NULL OR {alias}.agent_id = $agent_id)"
        f" AND ($run_id IS NULL OR {alias}.run_id = $run_id)"
    )


def _holds(alias: str) -> str:
    """`alias` held at $as_of (null: now, i.e. it is valid): it had begun (valid_from, else
    created_at) and had not ended (valid_to, else invalidated_at) by then. CASE rather than
    coalesce(): the same text runs on both servers."""
    start = f"CASE WHEN {alias}.valid_from IS NULL THEN {alias}.created_at ELSE {alias}.valid_from END"
    end = f"CASE WHEN {alias}.valid_to IS NULL THEN {alias}.invalidated_at ELSE {alias}.valid_to END"
    return (
        f"(($as_of IS NULL AND {alias}.valid = true) OR ($as_of IS NOT NULL AND {start} <= $as_of"
        f" AND ({alias}.valid = true OR {end} > $as_of)))"
    )


# Columns from which graph/convert.py builds a Relation; s -[r]-> d must be bound.
_REL_COLUMNS = (
    "s.name AS source, type(r) AS relation, d.name AS destination,"
    " r.user_id AS user_id, r.agent_id AS agent_id, r.run_id AS run_id,"
    " r.created_at AS created_at, r.valid AS valid, r.invalidated_at AS invalidated_at,"
    " r.memory_id AS memory_id, r.valid_from AS valid_from, r.valid_to AS valid_to"
)
# what ended a relation: the time the row's statement gives, else the row's time
_ENDED_BY_ROW = "r.valid_to = CASE WHEN row.valid_from IS NULL THEN row.at ELSE row.valid_from END"
_ENTITY_COLUMNS = (
    "e.name AS name, e.type AS type, e.user_id AS user_id, e.agent_id AS agent_id,"
    " e.run_id AS run_id, e.created_at AS created_at, e.scope_key AS scope_key"
)
_ENTITY_ON_CREATE = (
    "{v}.type = row.{side}_type, {v}.user_id = row.user_id, {v}.agent_id = row.agent_id,"
    " {v}.run_id = row.run_id, {v}.created_at = row.at"
)
# A node first seen with the default type gets the first specific type stated later.
_ENTITY_ON_MATCH = "{v}.type = CASE WHEN {v}.type = 'entity' THEN row.{side}_type ELSE {v}.type END"

# --- schema -------------------------------------------------------------------------------
CREATE_ENTITY_KEY = (
    "CREATE CONSTRAINT entity_scope_name IF NOT EXISTS FOR (e:Entity) REQUIRE (e.scope_key, e.name) IS UNIQUE"
)
CREATE_ENTITY_NAME_INDEX = "CREATE INDEX entity_name IF NOT EXISTS FOR (e:Entity) ON (e.name)"
SETUP_STATEMENTS = (CREATE_ENTITY_KEY, CREATE_ENTITY_NAME_INDEX)


# --- writes ---------------------------------------------------------------------------------
def merge_relations(rel_type: str) -> str:
    """MERGE both entities and a *valid* relation per row. An invalidated relation does not
    match (valid is part of the pattern), so restating a retracted fact creates a new valid
    relation and keeps the old one as history. `write_id` tells rows created by this call
    from rows that already existed. Memory ids are kept as a set: memory_ids (every memory
    that stated it) and support (those not deleted since).

    Only the positions ($rows[i].i) of rows that created a relation, and its id, come back:
    the caller holds everything else, and sending columns for every row halved throughput."""
    t = checked_type(rel_type)
    add_memory = (
        "CASE WHEN row.memory_id IS NULL OR row.memory_id IN r.{p} THEN r.{p} ELSE r.{p} + row.memory_id END"
    )
    return (
        "UNWIND $rows AS row\n"
        "MERGE (s:Entity {scope_key: row.scope_key, name: row.source})\n"
        f"  ON CREATE SET {_ENTITY_ON_CREATE.format(v='s', side='source')}\n"
        f"  ON MATCH SET {_ENTITY_ON_MATCH.format(v='s', side='source')}\n"
        "MERGE (d:Entity {scope_key: row.scope_key, name: row.destination})\n"
        f"  ON CREATE SET {_ENTITY_ON_CREATE.format(v='d', side='destination')}\n"
        f"  ON MATCH SET {_ENTITY_ON_MATCH.format(v='d', side='destination')}\n"
        f"MERGE (s)-[r:`{t}` {{scope_key: row.scope_key, valid: true}}]->(d)\n"
        "  ON CREATE SET r.user_id = row.user_id, r.agent_id = row.agent_id, r.run_id = row.run_id,"
        " r.created_at = row.at, r.memory_id = row.memory_id, r.memory_ids = row.memory_ids,"
        " r.support = row.memory_ids, r.write_id = $write_id, r.valid_from = row.valid_from\n"
        f"  ON MATCH SET r.memory_ids = {add_memory.format(p='memory_ids')},"
        f" r.support = {add_memory.format(p='support')},"
        " r.valid_from = CASE WHEN r.valid_from IS NULL THEN row.valid_from ELSE r.valid_from END\n"
        "WITH row, r WHERE r.write_id = $write_id\n"
        "RETURN row.i AS i, elementId(r) AS id"
    )


def invalidate_others(rel_type: str) -> str:
    """For exclusive relations: retire the source's valid relations of this type that point
    anywhere but the row's destination (same owner only)."""
    t = checked_type(rel_type)
    return (
        "UNWIND $rows AS row\n"
        f"MATCH (s:Entity {{scope_key: row.scope_key, name: row.source}})-[r:`{t}`]->(d:Entity)\n"
        "WHERE r.valid = true AND r.scope_key = row.scope_key AND d.name <> row.destination\n"
        f"SET r.valid = false, r.invalidated_at = row.at, {_ENDED_BY_ROW}\n"
        f"RETURN row.work_id AS work_id, {_REL_COLUMNS}"
    )


def retract_relations(rel_type: str) -> str:
    """Negated statements ("I no longer work at Initech"): retire the matching valid relation
    of the same owner. Nothing is created when there is none."""
    t = checked_type(rel_type)
    return (
        "UNWIND $rows AS row\n"
        f"MATCH (s:Entity {{scope_key: row.scope_key, name: row.source}})-[r:`{t}`]->"
        "(d:Entity {scope_key: row.scope_key, name: row.destination})\n"
        "WHERE r.valid = true AND r.scope_key = row.scope_key\n"
        f"SET r.valid = false, r.invalidated_at = row.at, {_ENDED_BY_ROW}\n"
        f"RETURN row.work_id AS work_id, {_REL_COLUMNS}"
    )


def invalidate_relation(rel_type: str) -> str:
    t = checked_type(rel_type)
    return (
        f"MATCH (s:Entity {{name: $source}})-[r:`{t}`]->(d:Entity {{name: $destination}})\n"
        f"WHERE r.valid = true AND {_scope_filter('r')}\n"
        "SET r.valid = false, r.invalidated_at = $at, r.valid_to = $at\n"
        f"RETURN {_REL_COLUMNS}"
    )


SET_EMBEDDINGS = (
    "UNWIND $rows AS row\n"
    "MATCH (e:Entity {scope_key: row.scope_key, name: row.name})\n"
    "SET e.embedding = row.embedding"
)

# A relation stays valid while some memory that stated it still exists.
DELETE_MEMORY_RELATIONS = (
    "MATCH (s:Entity)-[r]->(d:Entity)\n"
    "WHERE r.valid = true AND any(m IN r.support WHERE m IN $memory_ids)\n"
    "SET r.support = [m IN r.support WHERE NOT m IN $memory_ids]\n"
    "WITH s, r, d WHERE size(r.support) = 0\n"
    "SET r.valid = false, r.invalidated_at = $at, r.valid_to = $at\n"
    f"RETURN {_REL_COLUMNS}"
)

# Deletes run in bounded chunks so one huge scope cannot build one huge transaction.
# Erasing memories: their ids leave every relation; a relation no memory states any more is
# deleted, and so is an endpoint left without relations (entity names are memory text).
ERASE_MEMORY_RELATIONS = (
    "MATCH (s:Entity)-[r]->(d:Entity)\n"
    "WHERE any(m IN r.memory_ids WHERE m IN $memory_ids)\n"
    "SET r.memory_ids = [m IN r.memory_ids WHERE NOT m IN $memory_ids],"
    " r.support = [m IN r.support WHERE NOT m IN $memory_ids]\n"
    "WITH s, r, d WHERE size(r.memory_ids) = 0\n"
    "DELETE r\n"
    "RETURN s.scope_key AS s_key, s.name AS s_name, d.scope_key AS d_key, d.name AS d_name"
)
DELETE_ORPHANS = (
    "UNWIND $keys AS k\n"
    "MATCH (e:Entity {scope_key: k.scope_key, name: k.name})\n"
    "WHERE NOT EXISTS { MATCH (e)-[]-() }\n"
    "DELETE e RETURN count(*) AS deleted"
)

DELETE_SCOPE_CHUNK = (
    f"MATCH (e:Entity) WHERE {_scope_filter('e')}\n"
    "WITH e LIMIT $chunk DETACH DELETE e RETURN count(*) AS deleted"
)
RESET_CHUNK = "MATCH (e:Entity) WITH e LIMIT $chunk DETACH DELETE e RETURN count(*) AS deleted"

# --- reads ----------------------------------------------------------------------------------
PING = "RETURN 1 AS ok"
COUNT_ENTITIES = "MATCH (e:Entity) RETURN count(e) AS n"
COUNT_VALID_RELATIONS = "MATCH (:Entity)-[r]->(:Entity) WHERE r.valid = true RETURN count(r) AS n"

# Start from the (indexed) named entities and walk either direction; the endpoints come back
# through startNode/endNode (re-MATCHing a bound relationship made ArcadeDB scan: 19 ms vs 3).
HAS_RELATIONS = (
    "MATCH (:Entity)-[r]->(:Entity)\n"
    f"WHERE {_scope_filter('r')}\n"
    "RETURN 1 AS found LIMIT 1"
)

RELATIONS_FOR = (
    "UNWIND $names AS wanted\n"
    "MATCH (e:Entity {name: wanted})-[r]-(:Entity)\n"
    f"WHERE {_scope_filter('e')} AND ($include_invalid OR {_holds('r')})\n"
    "WITH DISTINCT r\n"
    "WITH r, startNode(r) AS s, endNode(r) AS d\n"
    f"RETURN {_REL_COLUMNS}\n"
    "ORDER BY created_at DESC, source, relation, destination LIMIT $limit"
)


def neighbourhood_entities(depth: int) -> str:
    """Entities within `depth` hops over valid relations; a path length cannot be a parameter."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be an integer from 1 to {MAX_DEPTH} (got {depth!r})")
    return (
        f"MATCH (start:Entity {{name: $name}}) WHERE {_scope_filter('start')}\n"
        f"OPTIONAL MATCH p = (start)-[*1..{depth}]-(n:Entity)\n"
        f"WHERE all(x IN relationships(p) WHERE {_holds('x')})\n"
        "WITH start, collect(DISTINCT n) AS found\n"
        "UNWIND [start] + found AS e\n"
        "WITH DISTINCT e LIMIT $limit\n"
        f"RETURN {_ENTITY_COLUMNS}"
    )


# The relations among a set of entities (addressed by (scope_key, name) keys) valid at $as_of.
RELATIONS_AMONG = (
    "UNWIND $keys AS k\n"
    "MATCH (s:Entity {scope_key: k.scope_key, name: k.name})-[r]->(d:Entity)\n"
    f"WHERE {_holds('r')} AND (d.scope_key + '|' + d.name) IN $flat_keys\n"
    f"RETURN {_REL_COLUMNS} LIMIT $limit"
)

_ENTITY_FILTERS = (
    f"{_scope_filter('e')}\n"
    "  AND ($name_contains IS NULL OR e.name CONTAINS $name_contains)\n"
    "  AND ($entity_type IS NULL OR e.type = $entity_type)\n"
    "  AND ($relation IS NULL OR EXISTS {\n"
    "    MATCH (e)-[x]-(:Entity) WHERE type(x) = $relation AND ($include_invalid OR x.valid = true)\n"
    "  })"
)
# Keyset on name; names repeat across owners, so ENTITIES_SAME_NAME completes the last group.
ENTITIES_PAGE = (
    f"MATCH (e:Entity) WHERE ($after IS NULL OR e.name > $after) AND {_ENTITY_FILTERS}\n"
    f"RETURN {_ENTITY_COLUMNS}\n"
    "ORDER BY name, scope_key LIMIT $limit"
)
ENTITIES_SAME_NAME = (
    f"MATCH (e:Entity) WHERE e.name = $name AND e.scope_key > $after_key AND {_ENTITY_FILTERS}\n"
    f"RETURN {_ENTITY_COLUMNS}\n"
    "ORDER BY scope_key"
)

RELATIONS_PAGE = (
    "MATCH (s:Entity)-[r]->(d:Entity)\n"
    f"WHERE {_scope_filter('r')}\n"
    f"  AND ($include_invalid OR {_holds('r')})\n"
    "  AND ($relation IS NULL OR type(r) = $relation)\n"
    "  AND ($name_contains IS NULL OR s.name CONTAINS $name_contains"
    " OR d.name CONTAINS $name_contains)\n"
    "  AND ($entity_type IS NULL OR s.type = $entity_type OR d.type = $entity_type)\n"
    # keyset (created_at, source, relation, destination) > $after_*, spelled out: comparing
    # lists is not portable
    "  AND ($after_at IS NULL OR r.created_at > $after_at OR (r.created_at = $after_at AND ("
    "s.name > $after_source OR (s.name = $after_source AND ("
    "type(r) > $after_relation OR (type(r) = $after_relation AND d.name > $after_destination))))))\n"
    f"RETURN {_REL_COLUMNS}\n"
    "ORDER BY created_at, source, relation, destination LIMIT $limit"
)

RELATIONS_BY_MEMORY = (
    "MATCH (s:Entity)-[r]->(d:Entity)\n"
    "WHERE any(m IN r.memory_ids WHERE m IN $memory_ids)\n"
    f"RETURN {_REL_COLUMNS}, [m IN r.memory_ids WHERE m IN $memory_ids] AS matched"
)

ENTITY_EMBEDDINGS = (
    "MATCH (e:Entity {scope_key: $scope_key}) WHERE e.embedding IS NOT NULL\n"
    "RETURN e.name AS name, e.embedding AS embedding"
)


def all_statements(sample_type: str = "WORKS_AT") -> Iterator[tuple[str, str]]:
    """(name, text) of every statement this module can produce, for linting."""
    for name, value in sorted(globals().items()):
        if name.isupper() and not name.startswith("_") and isinstance(value, str):
            yield name, value
    for factory in (merge_relations, invalidate_others, retract_relations, invalidate_relation):
        yield f"{factory.__name__}({sample_type})", factory(sample_type)
    for depth in range(1, MAX_DEPTH + 1):
        yield f"neighbourhood_entities({depth})", neighbourhood_entities(depth)
