"""SQLModel tables for API keys and refresh-token families (created by migration 0002).

Only hashes of secrets are stored. They share history's metadata so that migrations and the
schema comparison in tests/integration/test_migrations.py see them."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from history.base import HistoryBase, UtcDateTime


class ApiKeyRow(HistoryBase, table=True):
    __tablename__ = "api_keys"

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    secret_hash: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    role: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    user_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    agent_id: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    created_by: str | None = Field(default=None, sa_column=sa.Column(sa.String, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))


class RefreshTokenRow(HistoryBase, table=True):
    __tablename__ = "refresh_tokens"

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    family_id: str = Field(sa_column=sa.Column(sa.String, nullable=False, index=True))
    key_id: str = Field(sa_column=sa.Column(sa.String, nullable=False, index=True))
    secret_hash: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))


api_keys: sa.Table = ApiKeyRow.__table__  # type: ignore[attr-defined]
refresh_tokens: sa.Table = RefreshTokenRow.__table__  # type: ignore[attr-defined]
