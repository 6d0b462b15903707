"""SqlCredentialStore: API keys and refresh-token families in SQL (memory.credentials port)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from history.credential_tables import api_keys, refresh_tokens
from history.connections import SqlConnections
from memory.access import Role
from memory.credentials import ApiKeyRecord, RefreshTokenRecord

_KEY_COLUMNS = ("id", "name", "secret_hash", "role", "user_id", "agent_id", "created_at", "created_by",
                "expires_at", "revoked_at", "last_used_at")
_TOKEN_COLUMNS = ("id", "family_id", "key_id", "secret_hash", "created_at", "expires_at", "used_at", "revoked_at")


class SqlCredentialStore:
    """Implements memory.credentials.CredentialStore on SQLite or PostgreSQL.

    It shares the database (not the engine) with SqlMemoryRepository: credentials are read on
    every request, written rarely (create, revoke, refresh, batched last-use times)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sql = SqlConnections(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- API keys ----------------------------------------------------------------------------

    async def add_key(self, key: ApiKeyRecord) -> None:
        async with self._sql.writing() as conn:
            await conn.execute(api_keys.insert().values(**_key_values(key)))

    async def get_key(self, id: str) -> ApiKeyRecord | None:
        async with self._sql.reading() as conn:
            row = (await conn.execute(_select_keys().where(api_keys.c.id == id))).first()
        return _key(row) if row else None

    async def list_keys(self, include_revoked: bool) -> list[ApiKeyRecord]:
        query = _select_keys().order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        async with self._sql.reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_key(row) for row in rows]

    async def revoke_key(self, id: str, at: datetime) -> ApiKeyRecord | None:
        async with self._sql.writing() as conn:
            await self._revoke(conn, id, at)
            row = (await conn.execute(_select_keys().where(api_keys.c.id == id))).first()
        return _key(row) if row else None

    async def replace_key(self, old_id: str, new: ApiKeyRecord, at: datetime) -> ApiKeyRecord | None:
        async with self._sql.writing() as conn:
            if not await self._revoke(conn, old_id, at):
                return None
            await conn.execute(api_keys.insert().values(**_key_values(new)))
        return new

    async def touch_keys(self, used: Sequence[tuple[str, datetime]]) -> None:
        if not used:
            return
        statement = (
            api_keys.update()
            .where(api_keys.c.id == sa.bindparam("key_id"))
            .values(last_used_at=sa.bindparam("at"))
        )
        async with self._sql.writing() as conn:
            await conn.execute(statement, [{"key_id": id, "at": at} for id, at in used])

    async def _revoke(self, conn: AsyncConnection, id: str, at: datetime) -> bool:
        """Revoke an active key and its families; False when it is unknown or revoked already."""
        changed = await conn.execute(
            api_keys.update().where(api_keys.c.id == id, api_keys.c.revoked_at.is_(None)).values(revoked_at=at)
        )
        await conn.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.key_id == id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(changed.rowcount)

    # -- refresh tokens ----------------------------------------------------------------------

    async def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        values = {name: getattr(token, name) for name in _TOKEN_COLUMNS}
        async with self._sql.writing() as conn:
            await conn.execute(refresh_tokens.insert().values(**values))

    async def get_refresh_token(self, id: str) -> RefreshTokenRecord | None:
        columns = [refresh_tokens.c[name] for name in _TOKEN_COLUMNS if name != "revoked_at"]
        query = sa.select(*columns, _family_revoked().label("revoked_at")).where(refresh_tokens.c.id == id)
        async with self._sql.reading() as conn:
            row = (await conn.execute(query)).first()
        return RefreshTokenRecord(**row._mapping) if row else None

    async def use_refresh_token(self, id: str, at: datetime) -> bool:
        # the conditions make it a compare-and-set: of two concurrent uses one changes the row
        statement = (
            refresh_tokens.update()
            .where(refresh_tokens.c.id == id, refresh_tokens.c.used_at.is_(None), _family_revoked().is_(None))
            .values(used_at=at)
        )
        async with self._sql.writing() as conn:
            return bool((await conn.execute(statement)).rowcount)

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        statement = (
            refresh_tokens.update()
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        async with self._sql.writing() as conn:
            return int((await conn.execute(statement)).rowcount)

    async def purge_refresh_tokens(self, before: datetime) -> int:
        expired = (
            sa.select(refresh_tokens.c.family_id)
            .group_by(refresh_tokens.c.family_id)
            .having(sa.func.max(refresh_tokens.c.expires_at) < before)
        )
        statement = refresh_tokens.delete().where(refresh_tokens.c.family_id.in_(expired))
        async with self._sql.writing() as conn:
            return int((await conn.execute(statement)).rowcount)


def _family_revoked() -> sa.ScalarSelect[Any]:
    """When the family of the token in the outer statement was first revoked (None: never).

    Checked per family, not per row: a token inserted by a refresh racing with the family's
    revocation escapes the revoking UPDATE, but not this check."""
    family = refresh_tokens.alias("family")
    return (
        sa.select(sa.func.min(family.c.revoked_at))
        .where(family.c.family_id == refresh_tokens.c.family_id)
        .scalar_subquery()
    )


def _select_keys() -> sa.Select[Any]:
    return sa.select(*(api_keys.c[name] for name in _KEY_COLUMNS))


def _key_values(key: ApiKeyRecord) -> dict[str, Any]:
    values = {name: getattr(key, name) for name in _KEY_COLUMNS}
    values["role"] = key.role.value
    return values


def _key(row: sa.Row[Any]) -> ApiKeyRecord:
    values = dict(row._mapping)
    values["role"] = Role(values["role"])
    return ApiKeyRecord(**values)
