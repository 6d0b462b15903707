"""REST handlers for the credential check (mem0's ping) and the owners of memories (mem0's
"entities": users, agents and runs)."""
from __future__ import annotations

from app.rest.dispatch import Ctx
from app.rest.requests import ORG_ID, PROJECT_ID, EntityPath
from app.rest.responses import (
    DeleteAllResponse,
    EntitiesResponse,
    EntityOut,
    PingResponse,
)
from memory.models import Scope


async def ping(ctx: Ctx) -> PingResponse:
    principal = ctx.svc.principal
    return PingResponse(status="ok", principal=principal.id, role=principal.role.value, org_id=ORG_ID,
                        project_id=PROJECT_ID)


async def users(ctx: Ctx) -> EntitiesResponse:
    return EntitiesResponse(results=[EntityOut.of(owner) for owner in await ctx.svc.owners()])


async def delete_entity(ctx: Ctx) -> DeleteAllResponse:
    path: EntityPath = ctx.path
    deleted = await ctx.svc.delete_all(Scope(**{f"{path.entity_type}_id": path.entity_id}))
    return DeleteAllResponse(message="Entity deleted successfully.", deleted=deleted)
