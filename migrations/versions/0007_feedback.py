"""memory_feedback: the current feedback on a memory (mem0's POSITIVE / NEGATIVE / VERY_NEGATIVE)

Revision ID: 0007_feedback
Revises: memory_mentions
Create Date: 2026-12-02

One row per memory, keyed by its id; the repository deletes it in the transaction that deletes
the memory. Columns are written out here rather than imported so that later edits to
history/tables.py cannot change what this revision did. Downgrade drops the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_feedback"
down_revision: str | Sequence[str] | None = "0006_immutable"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_feedback",
        sa.Column("memory_id", sa.String(), nullable=False),
        sa.Column("rating", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("memory_id", name="pk_memory_feedback"),
    )


def downgrade() -> None:
    op.drop_table("memory_feedback")
