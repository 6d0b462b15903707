"""Webhooks over GraphQL: registration, secret rotation and the delivery log. Who may manage
which webhook is the core's rule (memory/webhooks.py: admins all, others their own scope).

The signing secret appears only in CreatedWebhook (creation and rotation)."""
from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.context import Info
from app.graphql.inputs import ScopeInput, scope_of
from memory.events import EventKind
from memory.webhooks import Delivery, DeliveryStatus, Webhook as WebhookRecord

strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus",
                description="pending (waiting for an attempt), delivered (2xx) or failed (given up).")


@strawberry.type(description="A registered receiver of events (never its secret).")
class Webhook:
    id: strawberry.ID
    name: str
    url: str
    event_types: list[EventKind]
    user_id: str | None = strawberry.field(description="with agentId and runId: the scope; all null: project-wide")
    agent_id: str | None
    run_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, hook: WebhookRecord) -> Webhook:
        return cls(id=strawberry.ID(hook.id), name=hook.name, url=hook.url,
                   event_types=sorted(hook.kinds, key=list(EventKind).index), user_id=hook.scope.user_id,
                   agent_id=hook.scope.agent_id, run_id=hook.scope.run_id, active=hook.active,
                   created_at=hook.created_at, updated_at=hook.updated_at, created_by=hook.created_by)


@strawberry.type(description="A webhook with its signing secret, shown this once (creation or rotation).")
class CreatedWebhook:
    secret: str
    webhook: Webhook

    @classmethod
    def of(cls, hook: WebhookRecord) -> CreatedWebhook:
        return cls(secret=hook.secret, webhook=Webhook.of(hook))


@strawberry.type(description="One event's delivery to one webhook, with its latest attempt.")
class WebhookDelivery:
    id: strawberry.ID
    event_id: str
    kind: EventKind
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(description="while pending")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    body: str = strawberry.field(description="the JSON sent (the same on every attempt)")

    @classmethod
    def of(cls, d: Delivery) -> WebhookDelivery:
        pending = d.status is DeliveryStatus.PENDING
        return cls(id=strawberry.ID(d.id), event_id=d.event_id, kind=d.kind, status=d.status, attempts=d.attempts,
                   next_attempt_at=d.next_attempt_at if pending else None, last_status_code=d.last_status_code,
                   last_error=d.last_error, created_at=d.created_at, updated_at=d.updated_at, body=d.body)


@strawberry.input(description="The scope defaults to the credential's own (project-wide for an admin).")
class CreateWebhookInput:
    name: str
    url: str
    event_types: list[EventKind]
    scope: ScopeInput | None = None
    active: bool = True


@strawberry.input(description="Fields left out keep their value.")
class UpdateWebhookInput:
    name: str | None = None
    url: str | None = None
    event_types: list[EventKind] | None = None
    active: bool | None = None


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="The webhooks this credential may manage, oldest first.")
    async def webhooks(self, info: Info) -> list[Webhook]:
        ctx = info.context
        return [Webhook.of(h) for h in await ctx.webhooks.webhooks(ctx.caller)]

    @strawberry.field(description="A webhook's delivery log, newest first; pruned after webhooks.retention_s.")
    async def webhook_deliveries(self, info: Info, webhook_id: strawberry.ID, status: DeliveryStatus | None = None,
                                 first: int = 50, before: datetime | None = None) -> list[WebhookDelivery]:
        ctx = info.context
        found = await ctx.webhooks.deliveries(ctx.caller, str(webhook_id), status=status, limit=first, before=before)
        return [WebhookDelivery.of(d) for d in found]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Register a webhook; its signing secret is in the answer, once.")
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreatedWebhook:
        ctx = info.context
        hook = await ctx.webhooks.create(ctx.caller, url=input.url, name=input.name,
                                         event_types=[k.value for k in input.event_types],
                                         scope=scope_of(input.scope), active=input.active)
        return CreatedWebhook.of(hook)

    @strawberry.mutation(description="Change a webhook's name, URL, event types or active flag.")
    async def update_webhook(self, info: Info, id: strawberry.ID, input: UpdateWebhookInput) -> Webhook:
        ctx = info.context
        kinds = [k.value for k in input.event_types] if input.event_types is not None else None
        hook = await ctx.webhooks.update(ctx.caller, str(id), url=input.url, name=input.name, event_types=kinds,
                                         active=input.active)
        return Webhook.of(hook)

    @strawberry.mutation(description="Delete a webhook and its delivery log.")
    async def delete_webhook(self, info: Info, id: strawberry.ID) -> Webhook:
        ctx = info.context
        return Webhook.of(await ctx.webhooks.delete(ctx.caller, str(id)))

    @strawberry.mutation(description="A new signing secret, in the answer once; every later attempt uses it.")
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> CreatedWebhook:
        ctx = info.context
        return CreatedWebhook.of(await ctx.webhooks.rotate_secret(ctx.caller, str(id)))
