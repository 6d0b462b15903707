"""SqlVectorSpaceStore: the store's vector space in SQL (memory.vector_space.VectorSpaceStore),
beside the memories whose embeddings it describes, on SQLite or PostgreSQL."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from history.connections import SqlConnections
from history.project import PROJECT, put_project_row
from history.tables import memories
from history.vector_space_tables import vector_space as t
from memory.errors import Conflict
from memory.models import utcnow
from memory.vector_space import VectorSpace


class SqlVectorSpaceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sql = SqlConnections(engine)

    async def stored_vector_space(self) -> VectorSpace | None:
        async with self._sql.reading() as conn:
            row = (await conn.execute(sa.select(t.c.model, t.c.dimension, t.c.weights).where(t.c.id == PROJECT))).first()
        return VectorSpace(row.model, row.dimension, row.weights) if row else None

    async def record_vector_space(self, space: VectorSpace) -> None:
        values = {"model": space.model, "dimension": space.dimension, "weights": space.weights,
                  "recorded_at": utcnow()}
        try:
            async with self._sql.writing() as conn:
                await put_project_row(conn, t, values)
        except Conflict:  # another replica inserted its record first: theirs stands (settle_vector_space reads it back)
            pass

    async def holds_memories(self) -> bool:
        async with self._sql.reading() as conn:
            return (await conn.execute(sa.select(memories.c.id).limit(1))).first() is not None
