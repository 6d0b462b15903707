"""The SQLModel table of the store's vector space (created by migration 0012_vector_space): one
row, keyed like the project settings. It shares history's metadata so that migrations and the
schema comparison see it."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from history.base import HistoryBase, UtcDateTime


class VectorSpaceRow(HistoryBase, table=True):
    __tablename__ = "vector_space"

    id: str = Field(sa_column=sa.Column(sa.String, primary_key=True))
    model: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    dimension: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    weights: str = Field(sa_column=sa.Column(sa.String, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


vector_space: sa.Table = VectorSpaceRow.__table__  # type: ignore[attr-defined]
