"""GET /v1/events: memory events as a plain Server-Sent Events stream, for REST users (`curl -N`,
EventSource). Authenticated like every REST route; `user_id` / `agent_id` / `run_id` narrow it
(a credential bound to a user or agent sees only its own, and naming another is a 403), and
`events` (repeatable) keeps only those kinds.

Each event is `id:`, `event:` (ADD, UPDATE, ...) and one `data:` line of JSON. A client that
reconnects with `Last-Event-ID` (EventSource does it by itself) first gets what it missed from
the replay buffer (`events.replay_buffer` latest events); when that id has left the buffer, or
is not known here (another start, another replica), it first gets an `event: missed` telling
it so, then whatever the buffer still holds. Idle streams get a comment line every
`limits.keep_alive_s`."""
from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from app.auth import AUTHENTICATOR_KEY
from app.keys import SERVICE_KEY, SETTINGS_KEY
from app.rest.dispatch import read_query
from app.rest.requests import ScopeFields
from app.rest.responses import MemoryOut
from app.streams import EVENT_LOG_KEY, SLOTS_KEY, frame, open_stream, pump
from memory.event_log import Gap, LogReader, Logged
from memory.events import EventKind
from memory.guarded import GuardedMemoryService
from memory.models import Scope

EVENTS_PATHS = ("/v1/events", "/v1/events/")
Kind = Literal["ADD", "UPDATE", "DELETE", "INVALIDATE", "RESET", "RELATION_ADDED", "RELATION_INVALIDATED"]


class EventsQuery(ScopeFields):
    events: list[Kind] | None = Field(default=None, description="only these kinds (repeat the parameter)")
    last_event_id: str | None = Field(
        default=None, max_length=64, description="resume after this id (the Last-Event-ID header wins)")


def event_json(logged: Logged) -> dict[str, Any]:
    event = logged.event
    relation = event.relation
    return {
        "id": logged.id, "event": event.kind.value, "memory_id": event.memory_id,
        "user_id": event.scope.user_id, "agent_id": event.scope.agent_id, "run_id": event.scope.run_id,
        "memory": MemoryOut.of(event.memory).model_dump(mode="json") if event.memory else None,
        "previous_text": event.previous_text,
        "relation": {"source": relation.source, "relationship": relation.relation,
                     "destination": relation.destination, "valid": relation.valid} if relation else None,
        "at": event.at.isoformat(), "origin": event.origin,
    }


def gap_json(gap: Gap) -> dict[str, Any]:
    why = ("it is older than the replay buffer holds" if gap.reason == "expired"
           else "it is not from this server's current run (restarted, or another replica)")
    return {"last_event_id": gap.after, "reason": gap.reason, "oldest_id": gap.oldest,
            "detail": f"events after {gap.after} may have been missed: {why}; list memories to catch up"}


class _Frames:
    """The log reader as SSE messages."""

    def __init__(self, reader: LogReader) -> None:
        self._reader = reader

    def take(self) -> list[bytes]:
        out = []
        for item in self._reader.take():
            if isinstance(item, Gap):
                out.append(frame("missed", json.dumps(gap_json(item))))
            else:
                out.append(frame(item.event.kind.value, json.dumps(event_json(item)), id=item.id))
        return out

    async def wait(self, timeout: float) -> bool:
        return await self._reader.wait(timeout)


async def events_stream(request: web.Request) -> web.StreamResponse:
    # who is asking comes first: an unknown caller learns nothing about its request's validity
    principal = await request.app[AUTHENTICATOR_KEY].for_request(request)
    svc = GuardedMemoryService(request.app[SERVICE_KEY], principal)
    query: EventsQuery = read_query(request, EventsQuery)  # type: ignore[assignment]
    ids = {k: v for k, v in query.scope_fields().items() if v is not None}
    kinds = frozenset(EventKind(k) for k in query.events) if query.events else None
    after = request.headers.get("Last-Event-ID") or query.last_event_id
    reader = svc.follow(request.app[EVENT_LOG_KEY], Scope(**ids) if ids else None, kinds, after)  # 403: not yours
    with request.app[SLOTS_KEY].hold(principal):  # 429 past limits.subscriptions_per_principal
        response = await open_stream(request)
        await pump(request, response, _Frames(reader), request.app[SETTINGS_KEY].limits.keep_alive_s)
    return response


def setup_events(app: web.Application) -> None:
    for path in EVENTS_PATHS:
        app.router.add_get(path, events_stream)
