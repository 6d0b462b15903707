"""memory_exports: memory export jobs and their results (GraphQL createMemoryExport, mem0's /v1/exports/)

Revision ID: 0008_exports
Revises: 0007_feedback
Create Date: 2026-12-02

One row per job; its result (one JSON document) is stored in the row so that every replica can
answer for it. Jobs are deleted after the configured retention. Columns are written out here
rather than imported so that later edits to history/export_tables.py cannot change what this
revision did. Downgrade drops the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008_exports"
down_revision: str | Sequence[str] | None = "0007_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_exports",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=True),
        sa.Column("schema", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_memory_exports"),
    )
    op.create_index("ix_memory_exports_scope_created", "memory_exports",
                    ["user_id", "agent_id", "run_id", "created_at"])
    op.create_index("ix_memory_exports_created_at", "memory_exports", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_memory_exports_created_at", table_name="memory_exports")
    op.drop_index("ix_memory_exports_scope_created", table_name="memory_exports")
    op.drop_table("memory_exports")
