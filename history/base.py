"""What every history table builds on: the shared metadata and the UTC timestamp column type.

A module of its own so that the memory tables (history/tables.py) and the credential tables
(history/credential_tables.py) both build on it without importing each other."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on both sides of the driver.

    PostgreSQL keeps `timestamptz`; SQLite stores a fixed-width naive text (so text order is time
    order) and hands back naive values. Converting to UTC on the way in and re-attaching UTC on
    the way out keeps comparisons (keyset cursors) and results identical on both backends."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # naive means UTC throughout the code base
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only turns an INTEGER (not BIGINT) primary key into the rowid alias that AUTOINCREMENT needs.
BigSerial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class HistoryBase(SQLModel):
    # A metadata of our own so that migrations see exactly these tables, whatever else in the
    # process happens to subclass SQLModel.
    metadata: ClassVar[sa.MetaData] = sa.MetaData(
        naming_convention={"pk": "pk_%(table_name)s", "ix": "ix_%(column_0_label)s"}
    )
