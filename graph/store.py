"""GraphStore over Bolt (Neo4j 5 or ArcadeDB's Bolt plugin) with the official async driver."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from neo4j import READ_ACCESS, WRITE_ACCESS, AsyncDriver, AsyncGraphDatabase
from neo4j import exceptions as neo

from graph import apply as applying
from graph import cypher
from graph.convert import (
    filter_params,
    micros_or_none,
    parse_relation_cursor,
    relation_cursor,
    scope_params,
    to_entity,
    to_micros,
    to_relation,
)
from graph.errors import is_retryable, translate_neo4j
from memory.models import (
    Entity,
    GraphQuery,
    GraphWork,
    GraphWriteResult,
    MemoryId,
    Relation,
    Scope,
    Vector,
)
from memory.naming import entity_name, lenient_entity_name, relation_type
from memory.pagination import Page, decode_cursor, encode_cursor, page_of
from memory.ports import NEIGHBOURHOOD_LIMIT

_log = logging.getLogger(__name__)
T = TypeVar("T")
Records = list[dict[str, Any]]
RunQuery = Callable[[str, Mapping[str, Any]], Awaitable[Records]]
DELETE_CHUNK = 5000


class Neo4jGraphStore:
    """Implements memory.ports.GraphStore.

    Every call opens its own session (sessions are not safe to share between tasks) on the
    driver's connection pool, runs one explicit transaction, and retries it on transient
    errors, MERGE races (ConstraintError) and stale connections with jittered backoff. All
    writes are idempotent, which is what makes those retries safe.

    Write transactions from one store are limited to `max_concurrent_writes` at a time:
    concurrent writers touching the same entities mostly conflict and retry (measured on
    ArcadeDB: 40 racing applies on 6 nodes exhausted 4 attempts), while one writer sending
    UNWIND batches is the fast path. Other processes' writers are still handled by retries.

    Give either `uri` (+ `auth`) or `driver_factory`; the driver is created on first use
    (no I/O in __init__) and closed by close(): the store owns what the factory returns.
    """

    def __init__(
        self,
        uri: str | None = None,
        auth: tuple[str, str] | None = None,
        database: str | None = None,
        *,
        driver_factory: Callable[[], AsyncDriver] | None = None,
        max_attempts: int = 8,
        backoff_s: float = 0.05,
        max_backoff_s: float = 1.0,
        connection_timeout_s: float = 5.0,
        max_concurrent_writes: int = 1,
    ) -> None:
        if driver_factory is None:
            if uri is None:
                raise ValueError("Neo4jGraphStore needs a uri or a driver_factory")
            bolt_uri = uri

            def driver_factory() -> AsyncDriver:
                return AsyncGraphDatabase.driver(
                    bolt_uri,
                    auth=auth,
                    connection_timeout=connection_timeout_s,
                    connection_acquisition_timeout=2 * connection_timeout_s,
                )

        self._factory = driver_factory
        self._database = database
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_writes = max(1, max_concurrent_writes)
        self._write_slots: asyncio.Semaphore | None = None  # created in the loop that uses it
        self._driver: AsyncDriver | None = None

    # --- plumbing ---------------------------------------------------------------------------
    def _get_driver(self) -> AsyncDriver:
        if self._driver is None:
            self._driver = self._factory()
        return self._driver

    async def _transaction(self, work: Callable[[RunQuery], Awaitable[T]], *, write: bool) -> T:
        if not write:
            return await self._with_retries(work, write=False)
        if self._write_slots is None:
            self._write_slots = asyncio.Semaphore(self._max_writes)
        async with self._write_slots:
            return await self._with_retries(work, write=True)

    async def _with_retries(self, work: Callable[[RunQuery], Awaitable[T]], *, write: bool) -> T:
        delay = self._backoff_s
        with translate_neo4j():
            for attempt in range(1, self._max_attempts + 1):
                try:
                    return await self._attempt(work, write)
                except (neo.Neo4jError, neo.DriverError, OSError) as exc:
                    if attempt == self._max_attempts or not is_retryable(exc, attempt):
                        raise
                    _log.debug(
                        "graph transaction attempt %d failed (%s), retrying", attempt, type(exc).__name__
                    )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # nosec B311  # retry jitter, not a secret
                delay = min(delay * 2, self._max_backoff_s)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, work: Callable[[RunQuery], Awaitable[T]], write: bool) -> T:
        mode = WRITE_ACCESS if write else READ_ACCESS
        async with self._get_driver().session(database=self._database, default_access_mode=mode) as session:
            tx = await session.begin_transaction()
            try:

                async def run(statement: str, params: Mapping[str, Any]) -> Records:
                    result = await tx.run(statement, dict(params))
                    return await result.data()

                value = await work(run)
                await tx.commit()
                return value
            finally:
                if not tx.closed():
                    # a failed rollback on a dead connection must not hide the original error
                    with suppress(neo.Neo4jError, neo.DriverError, OSError):
                        await tx.rollback()

    async def _query(self, statement: str, params: Mapping[str, Any], *, write: bool = False) -> Records:
        async def work(run: RunQuery) -> Records:
            return await run(statement, params)

        return await self._transaction(work, write=write)

    # --- schema and writes --------------------------------------------------------------------
    async def setup(self) -> None:
        # one transaction each: Neo4j refuses schema changes mixed in one transaction
        for statement in cypher.SETUP_STATEMENTS:
            await self._query(statement, {}, write=True)

    async def apply(self, batch: Sequence[GraphWork]) -> dict[str, GraphWriteResult]:
        """The whole batch in one transaction, rows in batch order (see graph/apply.py).
        Restating a relation that was invalidated creates a new valid one; the old one stays
        as history. A bad relation type or name anywhere fails the batch with InvalidInput."""
        plan = applying.plan(batch)  # InvalidInput before any I/O
        if not plan.rounds and not plan.embeddings:
            return {work_id: GraphWriteResult() for work_id in plan.work_ids}
        return await self._transaction(lambda run: applying.execute(plan, run), write=True)

    async def invalidate_relation(
        self, scope: Scope, source: str, relation: str, destination: str, at: datetime
    ) -> list[Relation]:
        statement = cypher.invalidate_relation(relation_type(relation))
        params = {
            **scope_params(scope.require()),
            "source": entity_name(source),
            "destination": entity_name(destination),
            "at": to_micros(at),
        }
        return [to_relation(r) for r in await self._query(statement, params, write=True)]

    async def delete_memory_relations(self, memory_ids: Sequence[MemoryId], at: datetime) -> list[Relation]:
        """A relation stated by several memories stays valid until the last of them is deleted."""
        if not memory_ids:
            return []
        params = {"memory_ids": list(memory_ids), "at": to_micros(at)}
        records = await self._query(cypher.DELETE_MEMORY_RELATIONS, params, write=True)
        return [to_relation(r) for r in records]

    async def erase_memories(self, memory_ids: Sequence[MemoryId]) -> None:
        """Removes what only these memories stated (see cypher.ERASE_MEMORY_RELATIONS)."""
        if not memory_ids:
            return
        deleted = await self._query(cypher.ERASE_MEMORY_RELATIONS, {"memory_ids": list(memory_ids)}, write=True)
        keys = {(r[k + "_key"], r[k + "_name"]) for r in deleted for k in ("s", "d")}
        if keys:
            rows = [{"scope_key": key, "name": name} for key, name in sorted(keys)]
            await self._query(cypher.DELETE_ORPHANS, {"keys": rows}, write=True)

    async def delete_scope(self, scope: Scope) -> None:
        """Every entity (and its relations) owned inside the prefix scope."""
        await self._delete_in_chunks(cypher.DELETE_SCOPE_CHUNK, scope_params(scope.require()))

    async def reset(self) -> None:
        await self._delete_in_chunks(cypher.RESET_CHUNK, {})

    async def _delete_in_chunks(self, statement: str, params: Mapping[str, Any]) -> None:
        while True:
            records = await self._query(statement, {**params, "chunk": DELETE_CHUNK}, write=True)
            if not records or records[0]["deleted"] < DELETE_CHUNK:
                return

    # --- reads ----------------------------------------------------------------------------------
    async def has_relations(self, scope: Scope) -> bool:
        return bool(await self._query(cypher.HAS_RELATIONS, scope_params(scope)))

    async def relations_for(
        self, scope: Scope, names: Sequence[str], include_invalid: bool = False, limit: int = 100,
        as_of: datetime | None = None,
    ) -> list[Relation]:
        """Most recent first."""
        wanted = sorted({n for n in (lenient_entity_name(name) for name in names) if n})
        if not wanted or limit <= 0:
            return []
        params = {**scope_params(scope), "names": wanted, "include_invalid": include_invalid, "limit": limit,
                  "as_of": micros_or_none(as_of)}
        return [to_relation(r) for r in await self._query(cypher.RELATIONS_FOR, params)]

    async def neighbourhood(
        self, scope: Scope, name: str, depth: int, as_of: datetime | None = None
    ) -> tuple[list[Entity], list[Relation]]:
        statement = cypher.neighbourhood_entities(depth)  # InvalidInput for a bad depth
        # bounded answers: a hub with thousands of neighbours must not fill memory (or a response)
        at = micros_or_none(as_of)
        params = {**scope_params(scope), "name": entity_name(name), "limit": NEIGHBOURHOOD_LIMIT, "as_of": at}

        async def work(run: RunQuery) -> tuple[Records, Records]:
            nodes = await run(statement, params)
            keys = [{"scope_key": n["scope_key"], "name": n["name"]} for n in nodes]
            flat = [f"{k['scope_key']}|{k['name']}" for k in keys]
            among = {"keys": keys, "flat_keys": flat, "limit": 4 * NEIGHBOURHOOD_LIMIT, "as_of": at}
            edges = await run(cypher.RELATIONS_AMONG, among) if keys else []
            return nodes, edges

        nodes, edges = await self._transaction(work, write=False)
        entities = sorted((to_entity(n) for n in nodes), key=lambda e: (e.name, e.scope.key()))
        relations = sorted(
            (to_relation(r) for r in edges), key=lambda r: (r.created_at, r.source, r.relation, r.destination)
        )
        return entities, relations

    async def entities(
        self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None
    ) -> Page[Entity]:
        """Ordered by (name, owner). The same name can belong to several owners; a page never
        ends inside such a group (it may exceed `limit` to finish it), so that a cursor holding
        the last name never skips an entity."""
        params = {**scope_params(scope), **filter_params(query)}
        rows = await self._query(cypher.ENTITIES_PAGE, {**params, "after": decode_cursor("entity", after),
                                                        "limit": limit + 1})
        has_next = len(rows) > limit
        rows = rows[:limit]
        if has_next:
            last = rows[-1]
            tail = await self._query(cypher.ENTITIES_SAME_NAME,
                                     {**params, "name": last["name"], "after_key": last["scope_key"]})
            rows += tail
            if tail:  # the row that told of a next page may have been one of the same name
                after_group = {**params, "after": last["name"], "limit": 1}
                has_next = bool(await self._query(cypher.ENTITIES_PAGE, after_group))
        found = [to_entity(r) for r in rows]
        return Page(found, [encode_cursor("entity", e.name) for e in found], has_next)

    async def relations(
        self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None
    ) -> Page[Relation]:
        """Keyset pages ordered by (created_at, source, relation, destination)."""
        params = {
            **scope_params(scope),
            **filter_params(query),
            **parse_relation_cursor(decode_cursor("relation", after)),
            "limit": limit + 1,
        }
        rows = [to_relation(r) for r in await self._query(cypher.RELATIONS_PAGE, params)]
        return page_of(rows, limit, "relation", relation_cursor)

    async def entity_embeddings(self, scope: Scope) -> dict[str, Vector]:
        params = {"scope_key": scope.require().key()}
        records = await self._query(cypher.ENTITY_EMBEDDINGS, params)
        return {r["name"]: np.asarray(r["embedding"], dtype=np.float32) for r in records}

    async def relations_by_memory(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[Relation]]:
        """Every relation any of these memories stated, valid or not. A relation stated by
        several memories is listed under each (its memory_id is the first that stated it)."""
        result: dict[MemoryId, list[Relation]] = {m: [] for m in memory_ids}
        if not memory_ids:
            return result
        records = await self._query(cypher.RELATIONS_BY_MEMORY, {"memory_ids": list(result)})
        for record in records:
            relation = to_relation(record)
            for memory_id in record["matched"]:
                result[memory_id].append(relation)
        return result

    async def counts(self) -> tuple[int, int]:
        async def work(run: RunQuery) -> tuple[int, int]:
            entities = await run(cypher.COUNT_ENTITIES, {})
            relations = await run(cypher.COUNT_VALID_RELATIONS, {})
            return int(entities[0]["n"]), int(relations[0]["n"])

        return await self._transaction(work, write=False)

    async def ping(self) -> None:
        await self._query(cypher.PING, {})

    async def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with translate_neo4j():
                await driver.close()
