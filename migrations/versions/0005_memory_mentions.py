"""memory_mentions: the entity keys each memory names (graph channel of hybrid search), backfilled

Revision ID: memory_mentions
Revises: memory_event_time
Create Date: 2026-12-02

One row per (memory, entity key), written by the repository in the memory row's transaction.
Existing memories are read in pages of ids and their keys computed here by the core's
recogniser (memory.mentions.mentioned): the keys are a function of the text, and the index must
agree with what the running code writes for new memories, so this revision uses the current
rule rather than a frozen copy. Downgrade drops the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from memory.mentions import mentioned

revision: str = "memory_mentions"
down_revision: str | Sequence[str] | None = "memory_event_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAGE = 1000


def upgrade() -> None:
    op.create_table(
        "memory_mentions",
        sa.Column("memory_id", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("memory_id", "entity", name="pk_memory_mentions"),
        sqlite_with_rowid=False,  # the rows live in the primary key's b-tree: one b-tree fewer per write
    )
    op.create_index("ix_memory_mentions_entity_memory", "memory_mentions", ["entity", "memory_id"])
    op.create_index("ix_memory_mentions_user_entity", "memory_mentions", ["user_id", "entity", "memory_id"])
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    memories = sa.table("memories", sa.column("id", sa.String), sa.column("text", sa.Text), sa.column("user_id", sa.String))
    mentions = sa.table("memory_mentions", sa.column("memory_id", sa.String), sa.column("entity", sa.String),
                        sa.column("user_id", sa.String))
    after = ""
    while True:
        page = conn.execute(
            sa.select(memories.c.id, memories.c.text, memories.c.user_id)
            .where(memories.c.id > after).order_by(memories.c.id).limit(_PAGE)
        ).all()
        if not page:
            return
        rows = [{"memory_id": id_, "entity": key, "user_id": user} for id_, text, user in page for key in mentioned(text)]
        if rows:
            conn.execute(sa.insert(mentions), rows)
        after = page[-1][0]


def downgrade() -> None:
    op.drop_index("ix_memory_mentions_user_entity", table_name="memory_mentions")
    op.drop_index("ix_memory_mentions_entity_memory", table_name="memory_mentions")
    op.drop_table("memory_mentions")
