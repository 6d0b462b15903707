"""Turning a batch of GraphWork into a few UNWIND statements, and their results back into
GraphWriteResults.

A batch becomes, per relation type, one MERGE statement (chunked when huge), preceded by one
invalidation statement when some rows of that type are exclusive. All of it runs in one
transaction, so a batch is applied entirely or not at all and its result is exact.

A negated statement (a retraction) becomes a row of a retraction statement, which retires the
matching valid relation and creates nothing.

Ordering: rows are applied in batch order. Two rows that touch the same (owner, source, type),
when the type is exclusive or one of them is a retraction, must not share a statement (the
second must see the first's effect, and Neo4j may evaluate a statement's clauses for all rows
before the next clause), so the n-th such row goes to "round" n; rounds run one after another.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph import cypher
from graph.convert import (
    from_micros,
    to_micros,
    to_relation,
)
from memory.errors import InvalidInput
from memory.naming import entity_name, entity_type, relation_type
from memory.models import GraphWork, GraphWriteResult, Relation, Scope

CHUNK_ROWS = 1000  # rows per statement: bounds the size of one Bolt message and server plan

Row = dict[str, Any]
RunQuery = Callable[[str, Mapping[str, Any]], Awaitable[list[dict[str, Any]]]]


@dataclass
class Plan:
    # rounds[i][rel_type] -> rows, in batch order
    rounds: list[dict[str, list[Row]]] = field(default_factory=list)
    embeddings: list[Row] = field(default_factory=list)
    work_ids: list[str] = field(default_factory=list)


def plan(batch: Sequence[GraphWork]) -> Plan:
    """Validate and normalise everything before the first write: a bad row fails the batch
    up front with InvalidInput instead of half-way through."""
    result = Plan()
    typed_rows: list[tuple[str, Row]] = []
    for work in batch:
        result.work_ids.append(work.id)
        typed_rows.extend(_rows(work))
        scope_key = work.scope.require().key()
        for name, vector in work.entity_embeddings.items():
            embedding = [float(x) for x in vector]
            result.embeddings.append(
                {"scope_key": scope_key, "name": entity_name(name), "embedding": embedding}
            )
    # keys touched by an exclusive row or a retraction: each of their rows gets its own round, in order
    contested = {_key(t, row) for t, row in typed_rows if row["exclusive"] or row["negated"]}
    occurrences: dict[tuple[str, str, str], int] = defaultdict(int)
    for rel_type, row in typed_rows:
        key = _key(rel_type, row)
        round_no = occurrences[key] if key in contested else 0
        occurrences[key] += 1
        while len(result.rounds) <= round_no:
            result.rounds.append(defaultdict(list))
        result.rounds[round_no][rel_type].append(row)
    return result


def _key(rel_type: str, row: Row) -> tuple[str, str, str]:
    return (row["scope_key"], row["source"], rel_type)


def _rows(work: GraphWork) -> list[tuple[str, Row]]:
    base = _base_row(work)
    try:
        exclusive = {relation_type(r) for r in work.exclusive_relations}
        rows = []
        for triple in work.triples:
            rel_type = relation_type(triple.relation)
            row = {
                **base,
                "source": entity_name(triple.source),
                "destination": entity_name(triple.destination),
                "source_type": entity_type(triple.source_type),
                "destination_type": entity_type(triple.destination_type),
                "exclusive": rel_type in exclusive and not triple.negated,
                "negated": triple.negated,
                "valid_from": to_micros(triple.valid_from) if triple.valid_from is not None else None,
            }
            rows.append((rel_type, row))
        return rows
    except InvalidInput as exc:
        raise InvalidInput(f"graph work {work.id}: {exc}") from exc


def _base_row(work: GraphWork) -> Row:
    scope = work.scope.require()
    memory_ids = [work.memory_id] if work.memory_id is not None else []
    return {
        "work_id": work.id,
        "scope_key": scope.key(),
        "user_id": scope.user_id,
        "agent_id": scope.agent_id,
        "run_id": scope.run_id,
        "at": to_micros(work.created_at),
        "memory_id": work.memory_id,
        "memory_ids": memory_ids,
    }


async def execute(p: Plan, run: RunQuery) -> dict[str, GraphWriteResult]:
    """Run the plan through `run` (bound to one open transaction); results per work id."""
    write_id = str(uuid.uuid4())  # marks relations created by this attempt
    added: dict[str, list[Relation]] = defaultdict(list)
    invalidated: dict[str, list[Relation]] = defaultdict(list)
    seen_added: set[str] = set()
    for round_rows in p.rounds:
        for rel_type, all_rows in round_rows.items():
            retractions = [row for row in all_rows if row["negated"]]
            rows = [row for row in all_rows if not row["negated"]]
            for statement, chosen in ((cypher.retract_relations(rel_type), retractions),
                                      (cypher.invalidate_others(rel_type), [r for r in rows if r["exclusive"]])):
                for chunk in _chunks(chosen):
                    for record in await run(statement, {"rows": chunk}):
                        invalidated[record["work_id"]].append(to_relation(record))
            for chunk in _chunks(rows):
                params = {"rows": chunk, "write_id": write_id}
                for record in await run(cypher.merge_relations(rel_type), params):
                    # later rows (or rounds) that matched the same new relation report it
                    # too: the first work that stated it gets the credit
                    if record["id"] not in seen_added:
                        seen_added.add(record["id"])
                        row = chunk[record["i"]]
                        added[row["work_id"]].append(_new_relation(rel_type, row))
    for chunk in _chunks(p.embeddings):
        await run(cypher.SET_EMBEDDINGS, {"rows": chunk})
    return {
        work_id: GraphWriteResult(added=tuple(added[work_id]), invalidated=tuple(invalidated[work_id]))
        for work_id in p.work_ids
    }


def _chunks(rows: list[Row]) -> list[list[Row]]:
    """Slices of at most CHUNK_ROWS rows, each row numbered by its position in its slice."""
    chunks = [rows[i : i + CHUNK_ROWS] for i in range(0, len(rows), CHUNK_ROWS)]
    return [[{**row, "i": i} for i, row in enumerate(chunk)] for chunk in chunks]


def _new_relation(rel_type: str, row: Row) -> Relation:
    """The relation a merge row created, as the server stored it (ON CREATE SET)."""
    created = from_micros(row["at"])
    assert created is not None
    return Relation(
        source=row["source"],
        relation=rel_type,
        destination=row["destination"],
        scope=Scope(user_id=row["user_id"], agent_id=row["agent_id"], run_id=row["run_id"]),
        created_at=created,
        memory_id=row["memory_id"],
        valid_from=from_micros(row["valid_from"]),
    )
