"""The SQLModel table of the project settings (created by migration 0011_project_settings): one
row, keyed by the project's id. It shares history's metadata so that migrations and the schema
comparison see it."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from history.base import HistoryBase, UtcDateTime


class ProjectSettingsRow(HistoryBase, table=True):
    __tablename__ = "project_settings"

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    # mem0's shape: a list of {name: description} objects, in the set's order
    custom_categories: list[dict[str, str]] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    custom_instructions: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    updated_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


project_settings: sa.Table = ProjectSettingsRow.__table__  # type: ignore[attr-defined]
