"""Credentials as the core sees them: API keys and refresh-token families, and the port that
stores them. Only hashes are stored; the secrets themselves exist once, in the answer to the
admin who created them. How secrets are made, hashed and checked is the edge's business
(app/auth); the SQL adapter (history/credentials.py) implements `CredentialStore`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Sequence

from memory.access import Principal, Role


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str  # public: embedded in the key, used to look it up
    name: str
    secret_hash: str  # "<scheme>:<hex digest>" (see app/auth/keys.py)
    role: Role
    user_id: str | None
    agent_id: str | None
    created_at: datetime
    created_by: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def principal(self) -> Principal:
        """Everything done with this key (or with tokens exchanged for it) acts as this principal."""
        return Principal(f"key:{self.id}", self.role, self.user_id, self.agent_id)


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: str
    family_id: str  # every token rotated from one exchange; reuse of any old one revokes them all
    key_id: str  # the API key the family was exchanged for
    secret_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class CredentialStore(Protocol):
    """Where API keys and refresh tokens live (SQL). Every method is one transaction."""

    async def add_key(self, key: ApiKeyRecord) -> None: ...

    async def get_key(self, id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self, include_revoked: bool) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, id: str, at: datetime) -> ApiKeyRecord | None:
        """Revoke the key and every refresh-token family exchanged for it; None when unknown.
        Revoking a revoked key keeps its first revocation time."""
        ...

    async def replace_key(self, old_id: str, new: ApiKeyRecord, at: datetime) -> ApiKeyRecord | None:
        """Rotation: add `new` and revoke `old_id` (and its families) together; None when
        `old_id` is unknown or already revoked (then nothing is added)."""
        ...

    async def touch_keys(self, used: Sequence[tuple[str, datetime]]) -> None:
        """Record last use times (written in batches, not once per request)."""
        ...

    async def add_refresh_token(self, token: RefreshTokenRecord) -> None: ...

    async def get_refresh_token(self, id: str) -> RefreshTokenRecord | None:
        """The token; its `revoked_at` is when it or any token of its family was revoked."""
        ...

    async def use_refresh_token(self, id: str, at: datetime) -> bool:
        """Mark the token used; False when it was used already or its family is revoked.
        Atomic, so of two concurrent refreshes with one token exactly one wins."""
        ...

    async def revoke_family(self, family_id: str, at: datetime) -> int: ...

    async def purge_refresh_tokens(self, before: datetime) -> int:
        """Delete the families whose every token expired before `before` (a family is kept whole
        while any of its tokens lives, so reuse detection and revocation still see it)."""
        ...
