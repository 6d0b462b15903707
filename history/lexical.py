"""The full-text index over memory texts, one statement per search, for each SQL dialect.

The index is derived from `memories.text` inside the database itself, so it changes in the same
transaction as the row (and survives a crash exactly as the row does):
* SQLite: a contentless FTS5 table (`memories_fts`, porter stemming) kept by triggers on
  `memories`, keyed by the memory row's rowid (the upsert keeps it), with an `owner` column of
  scope tokens so that a scoped search is one intersection inside FTS5;
* PostgreSQL: a stored generated `tsvector` column (`text_search`, 'english' configuration) with a
  GIN index.
Neither object is part of the SQLModel metadata: nothing but this module reads them, and no
write names them. The migration `lexical_search_index` creates and backfills both (its DDL
is the definition).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from history.tables import memories
from memory.models import Scope

FTS_TABLE = "memories_fts"
TSV_COLUMN = "text_search"
TSV_INDEX = "ix_memories_text_search"
# Objects of the derived index, which schema comparison against the table definitions skips.
DERIVED_NAMES = frozenset({FTS_TABLE, TSV_COLUMN, TSV_INDEX} | {f"{FTS_TABLE}_{s}" for s in
                                                               ("data", "idx", "docsize", "config")})

def _clean(terms: Sequence[str]) -> list[str]:
    # letters and digits only: nothing in a term can be read as query syntax by either engine
    return [t for t in dict.fromkeys("".join(ch for ch in term if ch.isalnum()) for term in terms) if t]


def owner_tokens(scope: Scope) -> list[str]:
    """The FTS5 `owner` tokens a read scope requires (as the migration's triggers write them)."""
    parts = (("u", scope.user_id), ("a", scope.agent_id), ("r", scope.run_id))
    return [prefix + value.encode("utf-8").hex().upper() for prefix, value in parts if value is not None]


def search_statement(
    sqlite: bool, terms: Sequence[str], scope: Scope, conditions: Sequence[sa.ColumnElement[bool]], k: int,
    ranked_first: int | None = None,
) -> sa.Select[tuple[str, float]] | None:
    """SELECT id, score of the k best matches of any term inside `scope`, under `conditions` (which
    state the scope exactly too); None: nothing to match.

    SQLite with `ranked_first`: FTS5 ranks alone and keeps its best `ranked_first` rows before
    they are joined to `memories`; the join then reads a few rows instead of every match (100k
    memories, ~1,000 matches in scope: 11.6 -> 6.7 ms). A third column, `valid`, is selected
    instead of filtering, so the caller sees how many rows FTS5 handed on and can tell "no more
    matches" from "the invalidated ones took the places" (then it asks again without the cut)."""
    words = _clean(terms)
    if not words:
        return None
    if sqlite:
        fts = sa.table(FTS_TABLE, sa.column("rowid"))
        rank = sa.func.bm25(sa.literal_column(FTS_TABLE), 1.0, 0.0)  # lower is better; owner tokens weigh 0
        expression = "text : (" + " OR ".join(f'"{w}"' for w in words) + ")"
        owners = [f'owner : "{token}"' for token in owner_tokens(scope)]
        match = sa.literal_column(FTS_TABLE).op("MATCH")(" AND ".join([expression, *owners]))
        if ranked_first is not None:
            best = (
                sa.select(fts.c.rowid.label("rowid"), (-rank).label("score")).where(match)
                .order_by(rank).limit(ranked_first).subquery("best")
            )
            return (
                sa.select(memories.c.id, best.c.score, memories.c.invalidated_at.is_(None).label("valid"))
                .select_from(best.join(memories, sa.literal_column("memories.rowid") == best.c.rowid))
                .where(*conditions)
                .order_by(best.c.score.desc())
            )
        return (
            sa.select(memories.c.id, (-rank).label("score"))
            .select_from(fts.join(memories, sa.literal_column("memories.rowid") == fts.c.rowid))
            .where(match, *conditions)
            .order_by(rank)
            .limit(k)
        )
    query = sa.func.to_tsquery(sa.literal_column("'english'"), " | ".join(words))
    vector = sa.literal_column(f"memories.{TSV_COLUMN}")
    score = sa.func.ts_rank_cd(vector, query)
    return (
        sa.select(memories.c.id, score.label("score"))
        .where(vector.op("@@")(query), *conditions)
        .order_by(score.desc(), memories.c.id)
        .limit(k)
    )


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` hook: schema comparison skips the derived index's objects."""
    return name not in DERIVED_NAMES
