"""The pure parts of webhooks (event type names, the body, the signature, the retry waits, which
events a webhook wants), and the service writing deliveries in the change's own commit."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import replace

import pytest

from memory.errors import InvalidInput, StoreUnavailable
from memory.events import EventKind, MemoryEvent
from memory.models import MemoryRecord, Message, Scope, utcnow
from memory.service import MemoryService
from memory.webhook_delivery import RetryPolicy, sign
from memory.webhooks import Delivery, DeliveryStatus, Webhook, WebhookRegistry, event_body, event_kinds
from tests.fakes.repository import InMemoryRepository


def test_event_types_take_mem0_names_and_ours_and_refuse_the_rest() -> None:
    assert event_kinds(["memory_add", "UPDATE", "relation_add"]) == {
        EventKind.ADD, EventKind.UPDATE, EventKind.RELATION_ADDED}
    for bad in (["memory_fly"], []):
        with pytest.raises(InvalidInput):
            event_kinds(bad)


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_x", 1700000000, body) == "v1=" + expected
    assert sign("whsec_y", 1700000000, body) != sign("whsec_x", 1700000000, body)


def test_retry_waits_double_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_s=2.0, max_backoff_s=10.0)
    for attempts, full in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (30, 10.0)):
        waits = [policy.delay(attempts) for _ in range(50)]
        assert all(full * 0.5 <= w <= full for w in waits)
        assert len(set(waits)) > 1


def test_the_body_carries_the_memory_and_mem0s_event_details() -> None:
    now = utcnow()
    rec = MemoryRecord(id="m1", text="I like tea", hash="h", scope=Scope("alice", "bot"), metadata={"k": 1},
                       created_at=now, updated_at=now)
    body = json.loads(event_body(MemoryEvent(EventKind.UPDATE, rec.scope, "m1", memory=rec,
                                             previous_text="I like coffee"), "ev1"))
    assert (body["id"], body["event"], body["kind"]) == ("ev1", "memory_update", "UPDATE")
    assert body["memory"]["memory"] == "I like tea" and body["previous_memory"] == "I like coffee"
    assert body["scope"] == {"user_id": "alice", "agent_id": "bot", "run_id": None}
    assert body["event_details"] == {"id": "m1", "data": {"memory": "I like tea"}, "event": "UPDATE"}


def test_a_webhook_wants_events_of_its_kinds_inside_its_scope_while_active() -> None:
    now = utcnow()
    hook = Webhook("w", "n", "http://x", frozenset({EventKind.ADD, EventKind.RESET}), Scope("alice"), True, now, now)
    assert hook.wants(MemoryEvent(EventKind.ADD, Scope("alice", "bot", "r1")))
    assert not hook.wants(MemoryEvent(EventKind.ADD, Scope("bob")))
    assert not hook.wants(MemoryEvent(EventKind.DELETE, Scope("alice")))
    assert hook.wants(MemoryEvent(EventKind.RESET, Scope()))  # a reset concerns everyone
    project = Webhook("p", "n", "http://x", frozenset({EventKind.ADD}), Scope(), True, now, now)
    assert project.wants(MemoryEvent(EventKind.ADD, Scope("bob")))
    assert not replace(project, active=False).wants(MemoryEvent(EventKind.ADD, Scope("bob")))


async def test_the_service_writes_deliveries_in_the_changes_own_commit(
    service: MemoryService, repo: InMemoryRepository,
) -> None:
    asked: list[list[EventKind]] = []

    async def planner(events: Sequence[MemoryEvent]) -> list[Delivery]:
        asked.append([e.kind for e in events])
        now = utcnow()
        return [Delivery(f"d{len(repo.deliveries)}-{i}", "w", "e", e.kind, "{}", DeliveryStatus.PENDING, 0, now, now,
                         now, memory_id=e.memory_id, scope=e.scope) for i, e in enumerate(events)]

    service.use_webhooks(planner)
    repo.fail_next_commit = StoreUnavailable("sql")
    with pytest.raises(StoreUnavailable):
        await service.add([Message("user", "I like tea")], Scope("alice"), infer=False)
    assert repo.deliveries == []  # no change, no delivery
    added = await service.add([Message("user", "I like tea")], Scope("alice"), infer=False)
    id = added.results[0].id
    await service.update(id, text="I like green tea")
    assert [d.kind for d in repo.deliveries] == [EventKind.ADD, EventKind.UPDATE]
    await service.delete(id, purge=True)  # erased: the deliveries holding its text go, its DELETE stays
    assert [(d.kind, d.memory_id) for d in repo.deliveries] == [(EventKind.DELETE, id)]
    assert asked == [[EventKind.ADD], [EventKind.ADD], [EventKind.UPDATE], [EventKind.DELETE]]


class Hooks:
    """The part of a webhook store the registry reads to route events: the webhooks."""

    def __init__(self, *hooks: Webhook, fail: bool = False) -> None:
        self.hooks, self.fail, self.reads = list(hooks), fail, 0

    async def list_webhooks(self) -> list[Webhook]:
        self.reads += 1
        if self.fail:
            raise StoreUnavailable("sql")
        return self.hooks


@pytest.mark.parametrize(("store", "woken"), [
    (Hooks(), 0),
    (Hooks(Webhook("w", "n", "http://x", frozenset({EventKind.ADD}), Scope("bob"), True, utcnow(), utcnow())), 0),
    (Hooks(Webhook("w", "n", "http://x", frozenset({EventKind.ADD}), Scope("alice"), True, utcnow(), utcnow())), 2),
    (Hooks(fail=True), 2),
], ids=["no webhooks", "none wants it", "one wants it", "the database cannot say"])
async def test_the_delivery_worker_is_woken_only_for_events_a_webhook_wants(store: Hooks, woken: int) -> None:
    wakes: list[None] = []
    registry = WebhookRegistry(store, lambda url: None, cache_s=60, on_enqueued=lambda: wakes.append(None),
                               in_commit=True)  # type: ignore[arg-type]
    for _ in range(2):  # deliveries of ADD events are written with the change: the registry only routes the wake
        await registry.enqueue(MemoryEvent(EventKind.ADD, Scope("alice")))
    assert len(wakes) == woken
    assert store.reads == (2 if store.fail else 1)  # the webhooks are read once, then kept
