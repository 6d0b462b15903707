"""The pure parts of webhooks: event type names, the body, the signature, the retry waits, and
which events a webhook wants."""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import pytest

from memory.errors import InvalidInput
from memory.events import EventKind, MemoryEvent
from memory.models import MemoryRecord, Scope, utcnow
from memory.webhook_delivery import RetryPolicy, sign
from memory.webhooks import Webhook, event_body, event_kinds


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
