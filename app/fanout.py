"""Fan-out of the core's events across replicas through Redis pub/sub.

Every locally produced event (an EventBus sink) is published as JSON on one channel, stamped
with this replica's id. A listener task takes events from the other replicas and publishes
them into the local bus with `local=False`, so they reach local subscribers but are not
forwarded again. Redis being down never fails a write: publishing logs and drops (pub/sub is
fire-and-forget anyway), and the listener reconnects with back-off."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from memory.background import cancel
from memory.errors import AgentMemError
from memory.events import EventBus, EventKind, MemoryEvent
from memory.models import MemoryRecord, Relation, Scope

log = logging.getLogger(__name__)

CHANNEL = "agentmem:events"
SUBSCRIBE_TIMEOUT_S = 10.0


def _scope(data: dict[str, Any]) -> Scope:
    return Scope(data.get("user_id"), data.get("agent_id"), data.get("run_id"))


def _scope_json(scope: Scope) -> dict[str, str | None]:
    return {"user_id": scope.user_id, "agent_id": scope.agent_id, "run_id": scope.run_id}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _record_json(rec: MemoryRecord) -> dict[str, Any]:
    return {
        "id": rec.id, "text": rec.text, "hash": rec.hash, "scope": _scope_json(rec.scope),
        "metadata": dict(rec.metadata), "created_at": rec.created_at.isoformat(),
        "updated_at": rec.updated_at.isoformat(),
        "invalidated_at": rec.invalidated_at.isoformat() if rec.invalidated_at else None,
        "invalidation_reason": rec.invalidation_reason, "categories": list(rec.categories),
        "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
    }


def _record(data: dict[str, Any]) -> MemoryRecord:
    return MemoryRecord(
        id=data["id"], text=data["text"], hash=data["hash"], scope=_scope(data["scope"]),
        metadata=data["metadata"], created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]), invalidated_at=_time(data["invalidated_at"]),
        invalidation_reason=data["invalidation_reason"], categories=tuple(data["categories"]),
        expires_at=_time(data.get("expires_at")),  # absent from replicas that predate expiry
    )


def _relation_json(rel: Relation) -> dict[str, Any]:
    return {
        "source": rel.source, "relation": rel.relation, "destination": rel.destination,
        "scope": _scope_json(rel.scope), "created_at": rel.created_at.isoformat(), "valid": rel.valid,
        "invalidated_at": rel.invalidated_at.isoformat() if rel.invalidated_at else None,
        "memory_id": rel.memory_id,
    }


def _relation(data: dict[str, Any]) -> Relation:
    return Relation(
        source=data["source"], relation=data["relation"], destination=data["destination"],
        scope=_scope(data["scope"]), created_at=datetime.fromisoformat(data["created_at"]),
        valid=data["valid"], invalidated_at=_time(data["invalidated_at"]), memory_id=data["memory_id"],
    )


def encode_event(event: MemoryEvent, origin: str) -> str:
    return json.dumps({
        "kind": event.kind.value, "scope": _scope_json(event.scope), "memory_id": event.memory_id,
        "memory": _record_json(event.memory) if event.memory else None,
        "previous_text": event.previous_text,
        "relation": _relation_json(event.relation) if event.relation else None,
        "at": event.at.isoformat(), "origin": event.origin or origin,
    }, separators=(",", ":"))


def decode_event(raw: str | bytes) -> MemoryEvent:
    data = json.loads(raw)
    return MemoryEvent(
        kind=EventKind(data["kind"]), scope=_scope(data["scope"]), memory_id=data["memory_id"],
        memory=_record(data["memory"]) if data["memory"] else None, previous_text=data["previous_text"],
        relation=_relation(data["relation"]) if data["relation"] else None,
        at=datetime.fromisoformat(data["at"]), origin=data["origin"],
    )


class RedisFanout:
    def __init__(self, url: str, bus: EventBus, replica_id: str, channel: str = CHANNEL) -> None:
        self.replica_id = replica_id
        self.channel = channel
        self.received = 0
        self._url = url
        self._bus = bus
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Connect, subscribe (before returning, so no event published later is missed) and
        start forwarding local events."""
        self._redis = aioredis.Redis.from_url(self._url)
        await self._redis.ping()
        self._listener = asyncio.create_task(self._listen(), name="redis-fanout")
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            await self._subscribed.wait()
        self._bus.add_sink(self.publish)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._bus.remove_sink(self.publish)
        await cancel(self._listener)
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, event: MemoryEvent) -> None:
        assert self._redis is not None
        try:
            await self._redis.publish(self.channel, encode_event(event, self.replica_id))
        except RedisError as exc:
            log.warning("could not fan out a %s event through Redis: %s", event.kind, exc)

    async def _listen(self) -> None:
        assert self._redis is not None
        delay = 0.5
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    delay = 0.5
                    async for message in pubsub.listen():
                        await self._deliver(message.get("data"))
            except RedisError as exc:
                log.warning("Redis fan-out listener lost its connection (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _deliver(self, raw: Any) -> None:
        try:
            event = decode_event(raw)
        except (ValueError, KeyError, TypeError, AgentMemError) as exc:
            log.warning("ignoring a malformed fan-out message: %s", exc)
            return
        if event.origin == self.replica_id:
            return
        self.received += 1
        await self._bus.publish(event, local=False)
