"""vector_space: which embedding model the store's vectors come from (memory/vector_space.py)

Revision ID: 0012_vector_space
Revises: 0011_project_settings
Create Date: 2026-12-05

One row; none until a service first starts on the store (it then records its embedder's space,
and refuses to start later with an embedder of another space while memories are stored).
Columns are written out here rather than imported so that later edits to
history/vector_space_tables.py cannot change what this revision did. Downgrade drops the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_vector_space"
down_revision: str | Sequence[str] | None = "0011_project_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vector_space",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("weights", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vector_space"),
    )


def downgrade() -> None:
    op.drop_table("vector_space")
