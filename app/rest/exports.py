"""REST handlers for memory exports (mem0's MemoryClient.create_memory_export / get_memory_export)."""
from __future__ import annotations

from app.rest.dispatch import Ctx
from app.rest.requests import ExportCreateRequest, ExportGetRequest
from app.rest.responses import ExportCreated, ExportOut
from app.rest.scoping import owner_scope, scope_and_filter


async def create(ctx: Ctx) -> ExportCreated:
    body: ExportCreateRequest = ctx.body
    scope, tree = scope_and_filter(body.scope_fields(), body.filters)
    job = await ctx.svc.create_export(scope, filters=tree, schema=body.schema_)
    return ExportCreated(message="Memory export request received. Poll /v1/exports/get/ with this id.", id=job.id,
                         status=job.status.value)


async def get(ctx: Ctx) -> ExportOut:
    body: ExportGetRequest = ctx.body
    wanted = body.memory_export_id or body.id
    if wanted is not None:
        return ExportOut.of(await ctx.svc.export(wanted))
    scope = owner_scope(body.scope_fields(), body.filters, "get_memory_export")
    return ExportOut.of(await ctx.svc.latest_export(None if scope.is_empty else scope))
