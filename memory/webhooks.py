"""Webhooks: the receivers a project registers for the events the subscriptions carry, the port
their durable outbox is kept behind, and the registry that manages them and enqueues deliveries.

A delivery is a row sent by the DeliveryWorker (memory/webhook_delivery.py). Memory events'
rows are written in the change's own SQL transaction (`plan`, through MemoryService.use_webhooks);
relation and reset events' rows by the event bus sink (`enqueue`) just after they are published:
a process that dies in between loses those (docs/webhooks.md says so)."""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from memory.access import Principal
from memory.errors import AgentMemError, InvalidInput, NotFound
from memory.events import EventKind, MemoryEvent, matches
from memory.ids import random_uuid
from memory.models import MemoryRecord, Relation, Scope, utcnow

log = logging.getLogger(__name__)

# the public name of each event kind (mem0's names where mem0 has one)
EVENT_NAMES: dict[EventKind, str] = {
    EventKind.ADD: "memory_add",
    EventKind.UPDATE: "memory_update",
    EventKind.DELETE: "memory_delete",
    EventKind.INVALIDATE: "memory_invalidate",
    EventKind.RESET: "memory_reset",
    EventKind.RELATION_ADDED: "relation_add",
    EventKind.RELATION_INVALIDATED: "relation_invalidate",
}
_BY_NAME = {name: kind for kind, name in EVENT_NAMES.items()} | {kind.value.lower(): kind for kind in EventKind}
MAX_NAME = 200
MAX_URL = 2048


def event_kinds(names: Iterable[str]) -> frozenset[EventKind]:
    """mem0's names (memory_add...) or ours (ADD, RELATION_ADDED...); empty: refused."""
    kinds = set()
    for name in names:
        kind = _BY_NAME.get(name.strip().lower())
        if kind is None:
            known = ", ".join(sorted(EVENT_NAMES.values()))
            raise InvalidInput(f"unknown event type {name!r}; known: {known}")
        kinds.add(kind)
    if not kinds:
        raise InvalidInput("name at least one event type")
    return frozenset(kinds)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt (or being sent: claimed until a lease ends)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up: too many attempts, too old, or its webhook was switched off


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    name: str
    url: str
    kinds: frozenset[EventKind]
    scope: Scope  # empty: project-wide
    active: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    secret: str = field(default="", repr=False)  # signs the deliveries; shown once, at creation or rotation

    def wants(self, event: MemoryEvent) -> bool:
        return self.active and matches(event, None if self.scope.is_empty else self.scope, self.kinds)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    webhook_id: str
    event_id: str
    kind: EventKind
    body: str  # the JSON sent, fixed at enqueue time (each attempt signs it anew)
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    # what the event was about: erasing a memory or a scope deletes its deliveries (their bodies hold its text)
    memory_id: str | None = None
    scope: Scope = Scope()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt decided about a delivery."""

    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    status_code: int | None
    error: str | None
    at: datetime


class WebhookStore(Protocol):
    """Webhooks and their delivery outbox, in SQL. Deleting a webhook deletes its deliveries."""

    async def add_webhook(self, hook: Webhook) -> None: ...

    async def get_webhooks(self, ids: Sequence[str]) -> dict[str, Webhook]: ...

    async def list_webhooks(self) -> list[Webhook]:
        """Every webhook, oldest first."""
        ...

    async def put_webhook(self, hook: Webhook) -> bool:
        """Replace a stored webhook (same id); False when it does not exist."""
        ...

    async def delete_webhook(self, id: str) -> bool: ...

    async def enqueue(self, deliveries: Sequence[Delivery]) -> None: ...

    async def claim(self, now: datetime, lease_until: datetime, limit: int, skip: Sequence[str]) -> list[Delivery]:
        """Atomically take up to `limit` pending deliveries due at `now` (oldest first), skipping
        webhooks in `skip`, and hide them from other claimers until `lease_until`: two workers
        (replicas) never take the same row while its lease runs."""
        ...

    async def release(self, ids: Sequence[str], now: datetime) -> None:
        """Hand claimed deliveries back untried (due at `now` again)."""
        ...

    async def finish(self, id: str, outcome: Outcome) -> None: ...

    async def deliveries(self, webhook_id: str, status: DeliveryStatus | None, limit: int,
                         before: datetime | None) -> list[Delivery]:
        """The delivery log of one webhook, newest first, created before `before`."""
        ...

    async def prune(self, finished_before: datetime) -> int:
        """Delete delivered and failed deliveries last changed before the given time."""
        ...

    async def pending_count(self) -> int: ...


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _scope_json(scope: Scope) -> dict[str, str | None]:
    return {"user_id": scope.user_id, "agent_id": scope.agent_id, "run_id": scope.run_id}


def _memory_json(rec: MemoryRecord) -> dict[str, Any]:
    return {"id": rec.id, "memory": rec.text, "hash": rec.hash, "metadata": dict(rec.metadata),
            "categories": list(rec.categories), **_scope_json(rec.scope), "created_at": _iso(rec.created_at),
            "updated_at": _iso(rec.updated_at), "invalidated_at": _iso(rec.invalidated_at),
            "occurred_at": _iso(rec.occurred_at), "expires_at": _iso(rec.expires_at), "immutable": rec.immutable}


def _relation_json(rel: Relation) -> dict[str, Any]:
    return {"source": rel.source, "relation": rel.relation, "destination": rel.destination,
            **_scope_json(rel.scope), "valid": rel.valid, "memory_id": rel.memory_id,
            "created_at": _iso(rel.created_at), "invalidated_at": _iso(rel.invalidated_at)}


def event_body(event: MemoryEvent, event_id: str) -> str:
    """The JSON a receiver gets for `event`; `event_details` repeats it in mem0's shape."""
    data: dict[str, Any] = {}
    if event.memory is not None:
        data["memory"] = event.memory.text
    body: dict[str, Any] = {
        "id": event_id, "event": EVENT_NAMES[event.kind], "kind": event.kind.value, "at": _iso(event.at),
        "scope": _scope_json(event.scope), "memory_id": event.memory_id,
        "memory": _memory_json(event.memory) if event.memory is not None else None,
        "previous_memory": event.previous_text,
        "relation": _relation_json(event.relation) if event.relation is not None else None,
        "event_details": {"id": event.memory_id, "data": data, "event": event.kind.value},
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# The kinds MemoryService writes in the memory change's own SQL transaction once it is given the
# registry's `plan` (MemoryService.use_webhooks): an acknowledged change never loses its webhook.
# Relation events follow the graph write, after that transaction, and a reset deletes rather
# than commits: those are enqueued by the event bus sink.
IN_COMMIT = frozenset({EventKind.ADD, EventKind.UPDATE, EventKind.DELETE, EventKind.INVALIDATE})

UrlCheck = Callable[[str], Awaitable[None]]  # raises InvalidInput for a target webhooks may not reach


class WebhookRegistry:
    """Registration (who may manage which webhook: `Principal`, as for memories) and enqueueing.

    Admins manage every webhook, project-wide ones included; a user or agent credential manages
    those inside its own scope. The active webhooks are cached for `cache_s` (a change made here
    shows at once; one made on another replica within `cache_s`)."""

    def __init__(self, store: WebhookStore, check_url: UrlCheck, *, cache_s: float = 5.0,
                 on_enqueued: Callable[[], None] | None = None, in_commit: bool = False) -> None:
        """`in_commit`: the service writes deliveries of IN_COMMIT kinds itself (through `plan`)."""
        self._store = store
        self._in_commit = in_commit
        self._check_url = check_url
        self._cache_s = cache_s
        self._active: list[Webhook] | None = None
        self._read_at = 0.0
        self._on_enqueued = on_enqueued

    # -- management --------------------------------------------------------------------------

    async def create(self, principal: Principal, *, url: str, name: str, event_types: Iterable[str],
                     scope: Scope | None = None, active: bool = True) -> Webhook:
        """The new webhook, with its secret (the only time the secret is returned)."""
        narrowed = principal.narrow(scope) or Scope()
        await self._valid_url(url)
        now = utcnow()
        hook = Webhook(random_uuid().hex, _name(name), url, event_kinds(event_types), narrowed, active, now, now,
                       principal.id, new_secret())
        await self._store.add_webhook(hook)
        self._forget()
        return hook

    async def update(self, principal: Principal, id: str, *, url: str | None = None, name: str | None = None,
                     event_types: Iterable[str] | None = None, active: bool | None = None) -> Webhook:
        hook = await self.get(principal, id)
        if url is not None:
            await self._valid_url(url)
        changed = replace(hook, url=url if url is not None else hook.url,
                          name=_name(name) if name is not None else hook.name,
                          kinds=event_kinds(event_types) if event_types is not None else hook.kinds,
                          active=active if active is not None else hook.active, updated_at=utcnow())
        return await self._put(changed)

    async def rotate_secret(self, principal: Principal, id: str) -> Webhook:
        """A new secret signs every attempt from now on (pending deliveries included)."""
        hook = await self.get(principal, id)
        return await self._put(replace(hook, secret=new_secret(), updated_at=utcnow()))

    async def delete(self, principal: Principal, id: str) -> Webhook:
        hook = await self.get(principal, id)
        if not await self._store.delete_webhook(id):
            raise NotFound(f"webhook {id!r} does not exist")
        self._forget()
        return hook

    async def get(self, principal: Principal, id: str) -> Webhook:
        hook = (await self._store.get_webhooks([id])).get(id)
        if hook is None or not principal.may_see(hook.scope):
            raise NotFound(f"webhook {id!r} does not exist")
        return hook

    async def webhooks(self, principal: Principal) -> list[Webhook]:
        return [h for h in await self._store.list_webhooks() if principal.may_see(h.scope)]

    async def deliveries(self, principal: Principal, webhook_id: str, *, status: DeliveryStatus | None = None,
                         limit: int = 50, before: datetime | None = None) -> list[Delivery]:
        await self.get(principal, webhook_id)
        return await self._store.deliveries(webhook_id, status, max(1, min(limit, 500)), before)

    async def _put(self, hook: Webhook) -> Webhook:
        if not await self._store.put_webhook(hook):
            raise NotFound(f"webhook {hook.id!r} does not exist")
        self._forget()
        return hook

    async def _valid_url(self, url: str) -> None:
        if len(url) > MAX_URL:
            raise InvalidInput(f"a webhook URL has at most {MAX_URL} characters")
        await self._check_url(url)

    def _forget(self) -> None:
        self._active = None

    # -- the outbox --------------------------------------------------------------------------

    async def plan(self, events: Sequence[MemoryEvent]) -> list[Delivery]:
        """One pending delivery per active webhook that wants each event, not written yet: the
        caller writes them (in the transaction of the change the events describe)."""
        hooks = await self._hooks()
        now = utcnow()
        planned: list[Delivery] = []
        for event in events:
            wanting = [h for h in hooks if h.wants(event)]
            if not wanting:
                continue
            event_id = random_uuid().hex
            body = event_body(event, event_id)
            planned += [Delivery(random_uuid().hex, h.id, event_id, event.kind, body, DeliveryStatus.PENDING, 0, now,
                                 now, now, memory_id=event.memory_id, scope=event.scope) for h in wanting]
        return planned

    async def enqueue(self, event: MemoryEvent) -> None:
        """An event bus sink: writes the deliveries `event` asks for, unless the service wrote them
        with its change already. The change behind the event has committed: a database that
        fails here costs this event's deliveries (logged), never the caller's answer."""
        if not (self._in_commit and event.kind in IN_COMMIT):
            try:
                planned = await self.plan([event])
                if not planned:
                    return
                await self._store.enqueue(planned)
            except AgentMemError as exc:
                log.error("webhook deliveries of a %s event on %s lost: %s", event.kind.value, event.scope, exc)
                return
        elif not await self._wanted(event):
            return  # the change wrote no delivery: waking the worker would only read an idle outbox
        if self._on_enqueued is not None:
            self._on_enqueued()

    async def _wanted(self, event: MemoryEvent) -> bool:
        """Whether an active webhook wants `event` (a database that fails to say: assume one does;
        a webhook changed since the change's commit is found by the worker's next poll)."""
        try:
            return any(h.wants(event) for h in await self._hooks())
        except AgentMemError:
            return True

    async def _hooks(self) -> list[Webhook]:
        if self._active is None or time.monotonic() - self._read_at > self._cache_s:
            self._active = [h for h in await self._store.list_webhooks() if h.active]
            self._read_at = time.monotonic()
        return self._active


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"a webhook name has 1-{MAX_NAME} characters")
    return name
