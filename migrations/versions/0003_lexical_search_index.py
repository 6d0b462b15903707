"""lexical search index over memory texts (SQLite FTS5 / PostgreSQL tsvector + GIN), backfilled

Revision ID: lexical_search_index
Revises: 0002
Create Date: 2026-12-02

Derived from `memories.text` inside the database, so it changes in the row's own transaction
(history/lexical.py reads it). SQLite: a contentless FTS5 table kept by triggers, filled here
from the existing rows. PostgreSQL: a stored generated column, computed here for existing
rows by the ALTER itself, with a GIN index. The DDL is spelled out so that later edits to
history/lexical.py cannot change what this revision did.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "lexical_search_index"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `owner` holds one token per scope part set ('u'/'a'/'r' + hex of the id: letters and digits only,
# one token whatever the id contains), so a scoped search intersects the term lists inside FTS5
# instead of ranking every match in the database and joining afterwards.
_OWNER = (
    "coalesce('u' || hex({row}.user_id), '') || ' ' || coalesce('a' || hex({row}.agent_id), '') || ' ' "
    "|| coalesce('r' || hex({row}.run_id), '')"
)
_NEW, _OLD = _OWNER.format(row="new"), _OWNER.format(row="old")
_SQLITE_UP = (
    "CREATE VIRTUAL TABLE memories_fts USING fts5(text, owner, content='', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, text, owner) VALUES (new.rowid, new.text, {_NEW}); END""",
    f"""CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text, owner) VALUES ('delete', old.rowid, old.text, {_OLD});
        END""",
    f"""CREATE TRIGGER memories_fts_update AFTER UPDATE OF text, user_id, agent_id, run_id ON memories
        WHEN old.text IS NOT new.text OR old.user_id IS NOT new.user_id OR old.agent_id IS NOT new.agent_id
          OR old.run_id IS NOT new.run_id BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text, owner) VALUES ('delete', old.rowid, old.text, {_OLD});
        INSERT INTO memories_fts(rowid, text, owner) VALUES (new.rowid, new.text, {_NEW}); END""",
    "INSERT INTO memories_fts(rowid, text, owner) SELECT rowid, text, "
    + _OWNER.format(row="memories") + " FROM memories",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS memories_fts_insert",
    "DROP TRIGGER IF EXISTS memories_fts_delete",
    "DROP TRIGGER IF EXISTS memories_fts_update",
    "DROP TABLE IF EXISTS memories_fts",
)
_POSTGRES_UP = (
    "ALTER TABLE memories ADD COLUMN text_search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_memories_text_search ON memories USING gin (text_search)",
)
_POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_memories_text_search",
    "ALTER TABLE memories DROP COLUMN IF EXISTS text_search",
)


def _run(statements: Sequence[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(_SQLITE_UP if op.get_bind().dialect.name == "sqlite" else _POSTGRES_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else _POSTGRES_DOWN)
