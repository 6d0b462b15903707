"""memories.expires_at: when a memory leaves every read (mem0's expiration_date); existing rows: never

Revision ID: 0010_expiration
Revises: 0009_webhooks
Create Date: 2026-12-02

A plain ALTER on both dialects, never a batch table copy (a copy could renumber the SQLite rowids
the full-text index is keyed by), and an index on the column for queries by expiry.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_expiration"
down_revision: str | Sequence[str] | None = "0009_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE memories ADD COLUMN expires_at " + (
        "DATETIME" if op.get_bind().dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"))
    op.create_index("ix_memories_expires_at", "memories", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_memories_expires_at", table_name="memories")
    op.execute("ALTER TABLE memories DROP COLUMN expires_at")
