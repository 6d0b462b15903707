"""initial: memories, memory_history, graph_outbox

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Written by hand against history/tables.py; tests/integration/test_migrations.py checks that the
result matches those definitions on SQLite and PostgreSQL. Types are spelled out here rather
than imported so that later edits to history/tables.py cannot change what this revision did.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# INTEGER on SQLite: only an INTEGER PRIMARY KEY aliases the rowid, which AUTOINCREMENT requires.
_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        _utc("invalidated_at", nullable=True),
        sa.Column("invalidation_reason", sa.Text(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memories"),
    )
    op.create_index("ix_memories_hash_scope", "memories", ["hash", "user_id", "agent_id", "run_id"])
    op.create_index("ix_memories_user_id", "memories", ["user_id"])
    op.create_index("ix_memories_agent_id", "memories", ["agent_id"])
    op.create_index("ix_memories_run_id", "memories", ["run_id"])
    op.create_index("ix_memories_created_id", "memories", ["created_at", "id"])
    op.create_index("ix_memories_updated_id", "memories", ["updated_at", "id"])
    op.create_index("ix_memories_seq", "memories", ["seq"])

    op.create_table(
        "memory_history",
        sa.Column("seq", _BIG_SERIAL, nullable=False, autoincrement=True),
        sa.Column("memory_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("old_text", sa.Text(), nullable=True),
        sa.Column("new_text", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("role", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _utc("created_at", nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_memory_history"),
        # seqs must never be reused after deletes: the vector index replays by seq
        sqlite_autoincrement=True,
    )
    op.create_index("ix_memory_history_memory_id", "memory_history", ["memory_id"])

    op.create_table(
        "graph_outbox",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _utc("created_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("last_attempt_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_graph_outbox"),
    )
    op.create_index("ix_graph_outbox_created_id", "graph_outbox", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_graph_outbox_created_id", table_name="graph_outbox")
    op.drop_table("graph_outbox")
    op.drop_index("ix_memory_history_memory_id", table_name="memory_history")
    op.drop_table("memory_history")
    for name in (
        "ix_memories_seq",
        "ix_memories_updated_id",
        "ix_memories_created_id",
        "ix_memories_run_id",
        "ix_memories_agent_id",
        "ix_memories_user_id",
        "ix_memories_hash_scope",
    ):
        op.drop_index(name, table_name="memories")
    op.drop_table("memories")
