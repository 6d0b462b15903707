"""lexical search index over memory texts (SQLite FTS5 / PostgreSQL tsvector + GIN), backfilled

Revision ID: lexical_search_index
Revises: 0002
Create Date: 2026-12-02

Derived from `memories.text` inside the database, so it changes in the row's own transaction
(history/lexical.py reads it). SQLite: an external-content FTS5 table kept by triggers, rebuilt
here from the existing rows. PostgreSQL: a stored generated column, computed here for existing
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

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='rowid', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text); END""",
    """CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END""",
    """CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories WHEN old.text IS NOT new.text BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
        INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text); END""",
    "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')",
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
