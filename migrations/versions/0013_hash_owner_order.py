"""hash_owner_order: the duplicate check's index also orders each owner's repeats of a text

Revision ID: 0013_hash_owner_order
Revises: 0012_vector_space
Create Date: 2026-12-07

An add's duplicate check asks for the oldest valid row of a text hash with exactly its owners
(history/repository.py `_by_hash`). With (hash, user_id, agent_id, run_id) alone the database
sorted every repeat of that text to find the oldest: a text an owner stored 20,000 times (adds
without inference skip the check) cost ~17 ms a check, on the event loop's own SQLite
connection. With created_at and id after the owners the index answers in its own order, one
entry read (~0.02 ms on SQLite and on PostgreSQL, whose query orders by the owners too).
Downgrade puts the former index back.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_hash_owner_order"
down_revision: str | Sequence[str] | None = "0012_vector_space"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_memories_hash_owner_created", "memories",
                    ["hash", "user_id", "agent_id", "run_id", "created_at", "id"])
    op.drop_index("ix_memories_hash_scope", table_name="memories")


def downgrade() -> None:
    op.create_index("ix_memories_hash_scope", "memories", ["hash", "user_id", "agent_id", "run_id"])
    op.drop_index("ix_memories_hash_owner_created", table_name="memories")
