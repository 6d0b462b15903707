"""project_settings: the project's custom categories and extraction instructions (mem0's project API)

Revision ID: 0011_project_settings
Revises: 0010_expiration
Create Date: 2026-12-02

One row per project (AgentMem serves one, "default"); no row means nothing was ever set. Columns
are written out here rather than imported so that later edits to history/project_tables.py cannot
change what this revision did. Downgrade drops the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_project_settings"
down_revision: str | Sequence[str] | None = "0010_expiration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "project_settings",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("custom_categories", sa.JSON(), nullable=True),
        sa.Column("custom_instructions", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_project_settings"),
    )


def downgrade() -> None:
    op.drop_table("project_settings")
