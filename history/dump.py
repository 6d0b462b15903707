"""The parts of export/import that the repository port does not cover: which deleted memories
left history behind, and the graph outbox as raw rows (work not yet applied to the graph)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from history.engine import is_sqlite
from history.errors import translate_sql
from history.tables import graph_outbox, memories, memory_history
from memory.models import Scope


async def deleted_memory_ids(engine: AsyncEngine, scope: Scope | None) -> list[str]:
    """Ids that have history but no memory row any more, oldest first; `scope` is a prefix."""
    h = memory_history.c
    conditions: list[sa.ColumnElement[bool]] = [h.memory_id.not_in(sa.select(memories.c.id))]
    if scope is not None:
        pairs = ((h.user_id, scope.user_id), (h.agent_id, scope.agent_id), (h.run_id, scope.run_id))
        conditions += [column == value for column, value in pairs if value is not None]
    query = sa.select(h.memory_id, sa.func.min(h.seq).label("first")).where(*conditions)
    query = query.group_by(h.memory_id).order_by("first")
    with translate_sql():
        async with engine.connect() as conn:
            return [row.memory_id for row in await conn.execute(query)]


async def outbox_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    c = graph_outbox.c
    query = sa.select(c.id, c.payload, c.created_at).order_by(c.created_at, c.id)
    with translate_sql():
        async with engine.connect() as conn:
            return [{"id": r.id, "payload": r.payload, "created_at": r.created_at.isoformat()}
                    for r in await conn.execute(query)]


async def restore_outbox(engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> None:
    """Queue graph work; rows whose id is already queued are left alone."""
    if not rows:
        return
    values = [{"id": r["id"], "payload": r["payload"], "created_at": datetime.fromisoformat(r["created_at"]),
               "attempts": 0} for r in rows]
    insert = (sqlite.insert if is_sqlite(engine) else postgresql.insert)(graph_outbox)
    with translate_sql():
        async with engine.begin() as conn:
            await conn.execute(insert.on_conflict_do_nothing(index_elements=[graph_outbox.c.id]), values)
