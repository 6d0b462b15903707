"""API key management over GraphQL (admins only; the check is in app.auth.keys.KeyAdmin).

No field ever returns a stored hash; the key itself appears once, in CreatedApiKey.key."""
from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.context import Info
from memory.access import Role
from memory.credentials import ApiKeyRecord
from memory.models import utcnow

strawberry.enum(Role, name="Role", description="What a credential may do: admin everything; user and agent their own data.")


@strawberry.type(description="An API key's description (never its secret).")
class ApiKey:
    id: strawberry.ID
    name: str
    role: Role
    user_id: str | None
    agent_id: str | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = strawberry.field(description="Recorded in batches: up to a minute late.")
    active: bool

    @classmethod
    def of(cls, key: ApiKeyRecord) -> ApiKey:
        return cls(
            id=strawberry.ID(key.id), name=key.name, role=key.role, user_id=key.user_id, agent_id=key.agent_id,
            created_at=key.created_at, created_by=key.created_by, expires_at=key.expires_at,
            revoked_at=key.revoked_at, last_used_at=key.last_used_at, active=key.active(utcnow()),
        )


@strawberry.type(description="A new key. `key` is shown this once: it is stored only as a hash.")
class CreatedApiKey:
    key: str
    api_key: ApiKey


@strawberry.input(description="A user key is bound to userId; an agent key to agentId (and optionally userId).")
class CreateApiKeyInput:
    name: str
    role: Role
    user_id: str | None = None
    agent_id: str | None = None
    expires_at: datetime | None = None


@strawberry.type
class KeyQuery:
    @strawberry.field(description="API keys, oldest first (admins only).")
    async def api_keys(self, info: Info, include_revoked: bool = False) -> list[ApiKey]:
        return [ApiKey.of(k) for k in await info.context.keys.list_keys(include_revoked)]


@strawberry.type
class KeyMutation:
    @strawberry.mutation(description="Create an API key (admins only); the key is in the answer, once.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
        record, text = await info.context.keys.create(
            input.name, input.role, user_id=input.user_id, agent_id=input.agent_id, expires_at=input.expires_at
        )
        return CreatedApiKey(key=text, api_key=ApiKey.of(record))

    @strawberry.mutation(description="Replace a key by a new one with the same name, role and binding; "
                         "the old key stops working now.")
    async def rotate_api_key(self, info: Info, id: strawberry.ID) -> CreatedApiKey:
        record, text = await info.context.keys.rotate(str(id))
        return CreatedApiKey(key=text, api_key=ApiKey.of(record))

    @strawberry.mutation(description="Revoke a key and every token exchanged for it, effective immediately.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKey:
        return ApiKey.of(await info.context.keys.revoke(str(id)))
