"""The SQLModel table of memory export jobs (created by migration 0008_exports). It shares
history's metadata so that migrations and the schema comparison see it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from history.base import HistoryBase, UtcDateTime


class ExportRow(HistoryBase, table=True):
    __tablename__ = "memory_exports"
    __table_args__ = (
        sa.Index("ix_memory_exports_scope_created", "user_id", "agent_id", "run_id", "created_at"),
        sa.Index("ix_memory_exports_created_at", "created_at"),
    )

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    filters: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # `schema` would shadow a pydantic attribute, hence the attribute name
    shape: dict[str, Any] | None = Field(default=None, sa_column=sa.Column("schema", sa.JSON, nullable=True))
    status: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    heartbeat_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    count: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    result: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


memory_exports: sa.Table = ExportRow.__table__  # type: ignore[attr-defined]
