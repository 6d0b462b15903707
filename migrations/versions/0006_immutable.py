"""memories.immutable: memories added with `immutable` refuse updates (existing rows: false)

Revision ID: 0006_immutable
Revises: memory_mentions
Create Date: 2026-12-02

A plain ALTER on both dialects, never a batch table copy: on SQLite a copy could renumber the
rowids that the full-text index (revision lexical_search_index) is keyed by.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_immutable"
down_revision: str | Sequence[str] | None = "memory_mentions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE memories ADD COLUMN immutable BOOLEAN NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE memories DROP COLUMN immutable")
