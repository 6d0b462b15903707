"""REST handlers for memory exports (mem0's MemoryClient.create_memory_export / get_memory_export)."""
from __future__ import annotations

from aiohttp import web

from app.rest.dispatch import Ctx
from app.rest.requests import ExportCreateRequest, ExportGetRequest, ExportPath
from app.rest.responses import ExportCreated, ExportOut
from app.rest.scoping import owner_scope, scope_and_filter
from memory.errors import Conflict


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


async def download(ctx: Ctx) -> web.Response:
    """The completed export's objects as a JSON file (the same list as `results`)."""
    path: ExportPath = ctx.path
    job = await ctx.svc.export(path.export_id)
    if job.result is None:
        raise Conflict(f"export {job.id!r} is {job.status.value}: only a completed export can be downloaded")
    return web.Response(text=job.result, content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="agentmem-export-{job.id}.json"'})
