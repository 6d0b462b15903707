"""memories.occurred_at: when what a memory says happened (event time), backfilled with created_at

Revision ID: memory_event_time
Revises: lexical_search_index
Create Date: 2026-12-02

A plain ALTER on both dialects, never a batch table copy: on SQLite a copy could renumber the
rowids that the full-text index (revision lexical_search_index) is keyed by.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "memory_event_time"
down_revision: str | Sequence[str] | None = "lexical_search_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE memories ADD COLUMN occurred_at " + (
        "DATETIME" if op.get_bind().dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"))
    op.execute("UPDATE memories SET occurred_at = created_at")


def downgrade() -> None:
    op.execute("ALTER TABLE memories DROP COLUMN occurred_at")
