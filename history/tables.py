"""SQLModel tables for memories, their history and the graph outbox.

The tables are created only by migrations (migrations/versions); these classes describe them for
queries and for alembic's schema comparison. The repository runs Core statements against
`Model.__table__` rather than ORM sessions: bulk upserts and plain row tuples are several times
cheaper than building pydantic objects per row, and the domain types are built directly.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

# the credential tables share this metadata: importing them here means `metadata` below holds
# every table (migrations compare against all of them)
from history import credential_tables as _credential_tables  # noqa: F401
from history import export_tables as _export_tables  # noqa: F401
from history import project_tables as _project_tables  # noqa: F401
from history import vector_space_tables as _vector_space_tables  # noqa: F401
from history import webhook_tables as _webhook_tables  # noqa: F401
from history.base import BigSerial, HistoryBase, UtcDateTime


class MemoryRow(HistoryBase, table=True):
    __tablename__ = "memories"
    __table_args__ = (
        sa.Index("ix_memories_hash_owner_created", "hash", "user_id", "agent_id", "run_id", "created_at", "id"),
        sa.Index("ix_memories_created_id", "created_at", "id"),
        sa.Index("ix_memories_updated_id", "updated_at", "id"),
        sa.Index("ix_memories_expires_at", "expires_at"),
    )

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True, index=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True, index=True))
    run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True, index=True))
    # `metadata` is reserved on SQLModel classes, hence the attribute name.
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column("metadata", sa.JSON, nullable=False))
    categories: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    invalidated_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    invalidation_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    occurred_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    immutable: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    # float32 little-endian bytes; exact round trip, a quarter of the size of JSON floats
    embedding: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))


class HistoryRow(HistoryBase, table=True):
    __tablename__ = "memory_history"
    # AUTOINCREMENT: seqs are never reused after deletes (the vector index replays by seq).
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, sa_column=sa.Column(BigSerial, primary_key=True, autoincrement=True))
    memory_id: str = Field(sa_column=sa.Column(sa.String, nullable=False, index=True))
    event: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    old_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    new_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    role: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


class OutboxRow(HistoryBase, table=True):
    __tablename__ = "graph_outbox"
    __table_args__ = (sa.Index("ix_graph_outbox_created_id", "created_at", "id"),)

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    # the serialised GraphWork minus id/created_at (see history/codec.py)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0")))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    last_attempt_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))


class MentionRow(HistoryBase, table=True):
    """The mention index: which entity keys (memory.mentions) each memory's text names. Derived
    from `memories.text` and written in the memory row's own transaction (history/repository.py);
    read by the graph channel of hybrid search."""

    __tablename__ = "memory_mentions"
    # WITHOUT ROWID on SQLite: the rows live in the primary key's b-tree, one b-tree fewer per write
    # (user, entity) first: a scoped look-up reads its user's rows only; "Alice" named in 40k
    # memories of other users cost 61 ms through (entity, memory) and a join at 100k memories
    __table_args__ = (sa.Index("ix_memory_mentions_entity_memory", "entity", "memory_id"),
                      sa.Index("ix_memory_mentions_user_entity", "user_id", "entity", "memory_id"),
                      {"sqlite_with_rowid": False})

    memory_id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    entity: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))  # the memory's owner


class FeedbackRow(HistoryBase, table=True):
    """The current feedback on a memory (mem0's POSITIVE / NEGATIVE / VERY_NEGATIVE and a reason).
    No foreign key: memory rows are replaced by upsert; the repository deletes a memory's feedback
    in the transaction that deletes the memory."""

    __tablename__ = "memory_feedback"

    memory_id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    rating: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


metadata = HistoryBase.metadata
memories: sa.Table = MemoryRow.__table__  # type: ignore[attr-defined]
memory_history: sa.Table = HistoryRow.__table__  # type: ignore[attr-defined]
graph_outbox: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
memory_mentions: sa.Table = MentionRow.__table__  # type: ignore[attr-defined]
memory_feedback: sa.Table = FeedbackRow.__table__  # type: ignore[attr-defined]
