"""mem0's webhook endpoints (`MemoryClient.get_webhooks / create_webhook / update_webhook /
delete_webhook`), plus secret rotation and the delivery log, over the core's WebhookRegistry.

mem0 files webhooks under a project; AgentMem has one (`PROJECT_ID`). A webhook is project-wide
unless the body scopes it with user_id / agent_id / run_id (a user or agent credential's are
always inside its own scope)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel

from app.keys import WEBHOOKS_KEY
from app.rest.dispatch import Ctx
from app.rest.requests import PROJECT_ID
from memory.errors import InvalidInput, NotFound
from memory.models import Scope
from memory.webhooks import EVENT_NAMES, Delivery, DeliveryStatus, Webhook, WebhookRegistry

EventTypes = Annotated[list[str], Field(min_length=1, max_length=20, description=(
    "memory_add, memory_update, memory_delete, memory_invalidate, memory_reset, relation_add, relation_invalidate"))]


class ProjectPath(BaseModel):
    project_id: str


class WebhookPath(BaseModel):
    webhook_id: str = Field(min_length=1, max_length=64)


class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    name: str = Field(min_length=1, max_length=200)
    event_types: EventTypes
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    is_active: bool = True


class UpdateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    event_types: EventTypes | None = None
    is_active: bool | None = None


class DeliveriesQuery(BaseModel):
    status: DeliveryStatus | None = None
    limit: int = Field(50, ge=1, le=500)
    before: datetime | None = Field(None, description="only deliveries created before this time (paging back)")


class WebhookOut(BaseModel):
    webhook_id: str
    name: str
    url: str
    event_types: list[str]
    is_active: bool
    project: str = PROJECT_ID
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls(webhook_id=hook.id, name=hook.name, url=hook.url, event_types=_names(hook),
                   is_active=hook.active, user_id=hook.scope.user_id, agent_id=hook.scope.agent_id,
                   run_id=hook.scope.run_id, created_at=hook.created_at, updated_at=hook.updated_at)


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="signs every delivery (X-AgentMem-Signature); shown only here")


class WebhooksResponse(RootModel[list[WebhookOut]]):
    pass


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        pending = d.status is DeliveryStatus.PENDING
        return cls(id=d.id, event_id=d.event_id, event=EVENT_NAMES[d.kind], status=d.status, attempts=d.attempts,
                   next_attempt_at=d.next_attempt_at if pending else None, last_status_code=d.last_status_code,
                   last_error=d.last_error, created_at=d.created_at, updated_at=d.updated_at)


class DeliveriesResponse(BaseModel):
    results: list[DeliveryOut]


class WebhookDeleted(BaseModel):
    message: str


def _names(hook: Webhook) -> list[str]:
    return [name for kind, name in EVENT_NAMES.items() if kind in hook.kinds]


def _registry(ctx: Ctx) -> WebhookRegistry:
    registry = ctx.request.app.get(WEBHOOKS_KEY)
    if registry is None:
        raise InvalidInput("webhooks are switched off on this server (webhooks.enabled)")
    return registry


def _project(ctx: Ctx) -> None:
    path: ProjectPath = ctx.path
    if path.project_id != PROJECT_ID:
        raise NotFound(f"project {path.project_id!r} does not exist (AgentMem has one: {PROJECT_ID!r})")


async def list_webhooks(ctx: Ctx) -> WebhooksResponse:
    _project(ctx)
    return WebhooksResponse([WebhookOut.of(h) for h in await _registry(ctx).webhooks(ctx.svc.principal)])


async def create_webhook(ctx: Ctx) -> CreatedWebhookOut:
    _project(ctx)
    body: CreateWebhookRequest = ctx.body
    scope = Scope(body.user_id, body.agent_id, body.run_id)
    hook = await _registry(ctx).create(ctx.svc.principal, url=body.url, name=body.name, event_types=body.event_types,
                                       scope=scope, active=body.is_active)
    return CreatedWebhookOut(**WebhookOut.of(hook).model_dump(), secret=hook.secret)


async def update_webhook(ctx: Ctx) -> WebhookOut:
    path: WebhookPath = ctx.path
    body: UpdateWebhookRequest = ctx.body
    hook = await _registry(ctx).update(ctx.svc.principal, path.webhook_id, url=body.url, name=body.name,
                                       event_types=body.event_types, active=body.is_active)
    return WebhookOut.of(hook)


async def delete_webhook(ctx: Ctx) -> WebhookDeleted:
    path: WebhookPath = ctx.path
    await _registry(ctx).delete(ctx.svc.principal, path.webhook_id)
    return WebhookDeleted(message="Webhook deleted successfully")


async def rotate_secret(ctx: Ctx) -> CreatedWebhookOut:
    path: WebhookPath = ctx.path
    hook = await _registry(ctx).rotate_secret(ctx.svc.principal, path.webhook_id)
    return CreatedWebhookOut(**WebhookOut.of(hook).model_dump(), secret=hook.secret)


async def deliveries(ctx: Ctx) -> DeliveriesResponse:
    path: WebhookPath = ctx.path
    query: DeliveriesQuery = ctx.query
    found = await _registry(ctx).deliveries(ctx.svc.principal, path.webhook_id, status=query.status,
                                            limit=query.limit, before=query.before)
    return DeliveriesResponse(results=[DeliveryOut.of(d) for d in found])
