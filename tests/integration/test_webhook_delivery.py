"""Webhook deliveries from the SQL outbox to a local receiver: signed bodies, filtering by event
type and scope, retries while the receiver is down or failing, resuming after a restart, two
workers on one PostgreSQL database, pruning, and the refusal of private targets."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from app.webhooks.transport import AiohttpTransport, PublicResolver, TargetRule
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from history.webhooks import SqlWebhookStore
from memory.access import Principal, Role
from memory.errors import DeliveryError, InvalidInput, NotFound
from memory.events import EventKind, MemoryEvent
from memory.models import MemoryRecord, Scope, utcnow
from memory.ports import ChangeSet
from memory.webhook_delivery import DeliveryWorker, RetryPolicy, WorkerLimits
from memory.webhooks import DeliveryStatus, WebhookRegistry
from tests.fixtures.webhook_receiver import Receiver, until, verify

ADMIN = Principal("root", Role.ADMIN)
FAST = RetryPolicy(max_attempts=4, backoff_s=0.02, max_backoff_s=0.05)
QUICK = WorkerLimits(poll_s=0.05, lease_s=30)


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[SqlWebhookStore]:
    store = SqlWebhookStore(create_engine(sqlite_url))
    yield store
    await store.close()


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(TargetRule(allow_private=True), timeout_s=5, connections=8)
    yield transport
    await transport.close()


def registry(store: SqlWebhookStore) -> WebhookRegistry:
    return WebhookRegistry(store, TargetRule(allow_private=True).check, cache_s=0)


def added(text: str, user: str = "alice") -> MemoryEvent:
    now = utcnow()
    rec = MemoryRecord(id=f"m-{text}", text=text, hash="h", scope=Scope(user), metadata={}, created_at=now,
                       updated_at=now)
    return MemoryEvent(EventKind.ADD, rec.scope, rec.id, memory=rec)


async def deliveries(store: SqlWebhookStore, hook_id: str) -> list:
    return await store.deliveries(hook_id, None, 100, None)


async def test_a_delivery_is_signed_with_the_webhook_secret_and_logged(
    store: SqlWebhookStore, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    hooks = registry(store)
    hook = await hooks.create(ADMIN, url=receiver.url, name="crm", event_types=["memory_add"])
    worker = DeliveryWorker(store, transport, FAST, QUICK)
    worker.start()
    try:
        await hooks.enqueue(added("I like tea"))
        await until(lambda: receiver.received)
        await until(lambda: _status(store, hook.id, DeliveryStatus.DELIVERED))
    finally:
        await worker.stop()
    (got,) = receiver.received
    assert verify(hook.secret, got.headers, got.body)
    assert not verify("whsec_someone-else", got.headers, got.body)
    body = json.loads(got.body)
    assert body["event"] == "memory_add" and body["memory"]["memory"] == "I like tea"
    assert body["scope"] == {"user_id": "alice", "agent_id": None, "run_id": None}
    assert got.headers["X-AgentMem-Event-Id"] == body["id"]
    (logged,) = await deliveries(store, hook.id)
    assert (logged.attempts, logged.last_status_code, logged.last_error) == (1, 200, None)


async def _status(store: SqlWebhookStore, hook_id: str, status: DeliveryStatus) -> bool:
    rows = await deliveries(store, hook_id)
    return bool(rows) and all(d.status is status for d in rows)


async def test_events_are_enqueued_only_for_webhooks_wanting_their_type_and_scope(store: SqlWebhookStore) -> None:
    hooks = registry(store)
    alice_adds = await hooks.create(ADMIN, url="http://127.0.0.1:9/a", name="a", event_types=["memory_add"],
                                    scope=Scope("alice"))
    all_deletes = await hooks.create(ADMIN, url="http://127.0.0.1:9/b", name="b", event_types=["DELETE"])
    off = await hooks.create(ADMIN, url="http://127.0.0.1:9/c", name="c", event_types=["memory_add"], active=False)
    await hooks.enqueue(added("one", "alice"))
    await hooks.enqueue(added("two", "bob"))
    await hooks.enqueue(MemoryEvent(EventKind.DELETE, Scope("bob"), "m-two"))
    assert [json.loads(d.body)["memory"]["memory"] for d in await deliveries(store, alice_adds.id)] == ["one"]
    assert [d.kind for d in await deliveries(store, all_deletes.id)] == [EventKind.DELETE]
    assert await deliveries(store, off.id) == []


async def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_up(
    store: SqlWebhookStore, transport: AiohttpTransport, down_receiver: Receiver,
) -> None:
    hooks = registry(store)
    hook = await hooks.create(ADMIN, url=down_receiver.url, name="late", event_types=["memory_add"])
    worker = DeliveryWorker(store, transport, replace(FAST, max_attempts=1000), QUICK)
    worker.start()
    try:
        await hooks.enqueue(added("hello"))

        async def refused_twice() -> bool:
            (d,) = await deliveries(store, hook.id)
            return d.attempts >= 2 and d.status is DeliveryStatus.PENDING

        await until(refused_twice)
        (failing,) = await deliveries(store, hook.id)
        assert failing.last_status_code is None and "Connect" in (failing.last_error or "")
        await down_receiver.start()
        await until(lambda: _status(store, hook.id, DeliveryStatus.DELIVERED))
    finally:
        await worker.stop()
    assert len(down_receiver.received) == 1


async def test_a_receiver_answering_500_is_retried_then_the_delivery_fails(
    store: SqlWebhookStore, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    receiver.status = 500
    hooks = registry(store)
    hook = await hooks.create(ADMIN, url=receiver.url, name="broken", event_types=["memory_add"])
    worker = DeliveryWorker(store, transport, replace(FAST, max_attempts=3), QUICK)
    worker.start()
    try:
        await hooks.enqueue(added("hello"))
        await until(lambda: _status(store, hook.id, DeliveryStatus.FAILED))
    finally:
        await worker.stop()
    (dead,) = await deliveries(store, hook.id)
    assert (dead.attempts, dead.last_status_code) == (3, 500)
    assert len(receiver.received) == 3
    assert len({r.headers["X-AgentMem-Event-Id"] for r in receiver.received}) == 1  # the same event each time


async def test_an_attempt_without_an_answer_in_time_fails_and_is_retried(
    store: SqlWebhookStore, receiver: Receiver,
) -> None:
    receiver.gate = asyncio.Event()  # accepts the request, never answers
    impatient = AiohttpTransport(TargetRule(allow_private=True), timeout_s=0.2, connections=2)
    hooks = registry(store)
    hook = await hooks.create(ADMIN, url=receiver.url, name="mute", event_types=["memory_add"])
    worker = DeliveryWorker(store, impatient, replace(FAST, max_attempts=2), QUICK)
    worker.start()
    try:
        await hooks.enqueue(added("hello"))
        await until(lambda: _status(store, hook.id, DeliveryStatus.FAILED))
    finally:
        receiver.gate.set()
        await worker.stop()
        await impatient.close()
    (dead,) = await deliveries(store, hook.id)
    assert dead.attempts == 2 and dead.last_error == "no answer within 0.2 s"
    assert len(receiver.received) == 2


async def test_a_slow_receiver_holds_only_its_own_slots(
    store: SqlWebhookStore, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    slow = Receiver()
    slow.gate = asyncio.Event()  # never answers until the test lets it
    await slow.start()
    hooks = registry(store)
    stuck = await hooks.create(ADMIN, url=slow.url, name="slow", event_types=["memory_add"], scope=Scope("alice"))
    fine = await hooks.create(ADMIN, url=receiver.url, name="fine", event_types=["memory_add"], scope=Scope("bob"))
    worker = DeliveryWorker(store, transport, FAST, replace(QUICK, concurrency=4, per_webhook=2))
    worker.start()
    try:
        for i in range(6):
            await hooks.enqueue(added(f"alice {i}", "alice"))
        await until(lambda: len(slow.received) == 2)  # its two slots are taken and held
        await hooks.enqueue(added("bob", "bob"))
        await until(lambda: _status(store, fine.id, DeliveryStatus.DELIVERED))
        assert len(slow.received) == 2
        slow.gate.set()
        await until(lambda: _status(store, stuck.id, DeliveryStatus.DELIVERED))
    finally:
        slow.gate.set()
        await worker.stop()
        await slow.stop()
    assert len(slow.received) == 6


async def test_pending_deliveries_survive_a_restart(
    sqlite_url: str, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    before = SqlWebhookStore(create_engine(sqlite_url))
    hook = await registry(before).create(ADMIN, url=receiver.url, name="r", event_types=["memory_add"])
    for text in ("a", "b", "c"):
        await registry(before).enqueue(added(text))
    await before.close()  # the process stops before any worker ran

    after = SqlWebhookStore(create_engine(sqlite_url))
    worker = DeliveryWorker(after, transport, FAST, QUICK)
    worker.start()
    try:
        await until(lambda: _status(after, hook.id, DeliveryStatus.DELIVERED))
    finally:
        await worker.stop()
        await after.close()
    assert sorted(json.loads(r.body)["memory"]["memory"] for r in receiver.received) == ["a", "b", "c"]


async def test_two_workers_on_one_postgres_database_never_send_a_delivery_twice(
    pg_url: str, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    one, two = SqlWebhookStore(create_engine(pg_url)), SqlWebhookStore(create_engine(pg_url))
    hooks = registry(one)
    hook = await hooks.create(ADMIN, url=receiver.url, name="shared", event_types=["memory_add"])
    for i in range(40):
        await hooks.enqueue(added(f"fact {i}"))
    small = replace(QUICK, concurrency=4, per_webhook=4)
    workers = [DeliveryWorker(one, transport, FAST, small), DeliveryWorker(two, transport, FAST, small)]
    for w in workers:
        w.start()
    try:
        await until(lambda: _status(one, hook.id, DeliveryStatus.DELIVERED))
    finally:
        for w in workers:
            await w.stop()
        await one.close()
        await two.close()
    ids = [r.headers["X-AgentMem-Delivery-Id"] for r in receiver.received]
    assert len(ids) == 40 and len(set(ids)) == 40


async def test_finished_deliveries_are_pruned_after_retention(
    store: SqlWebhookStore, transport: AiohttpTransport, receiver: Receiver,
) -> None:
    hooks = registry(store)
    hook = await hooks.create(ADMIN, url=receiver.url, name="p", event_types=["memory_add"])
    await hooks.enqueue(added("old"))
    worker = DeliveryWorker(store, transport, FAST, QUICK)
    worker.start()
    try:
        await until(lambda: _status(store, hook.id, DeliveryStatus.DELIVERED))
    finally:
        await worker.stop()
    await hooks.enqueue(added("waiting"))  # pending rows are never pruned
    assert await store.prune(utcnow() - timedelta(hours=1)) == 0
    assert await store.prune(utcnow() + timedelta(seconds=1)) == 1
    assert [json.loads(d.body)["memory"]["memory"] for d in await deliveries(store, hook.id)] == ["waiting"]


async def test_private_and_non_http_targets_are_refused() -> None:
    rule = TargetRule(allow_private=False)
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "https://10.1.2.3/", "http://169.254.169.254/",
                "http://[::1]/", "ftp://example.com/", "http://user:pw@example.com/", "not a url"):
        with pytest.raises(InvalidInput):
            await rule.check(url)
    guarded = AiohttpTransport(rule, timeout_s=2, connections=1)
    try:
        with pytest.raises(DeliveryError, match="not a public address"):
            await guarded.post("http://127.0.0.1:9/x", b"{}", {})
        with pytest.raises(DeliveryError, match="DNSError"):
            await guarded.post("http://localhost:9/x", b"{}", {})  # the resolver itself filters
    finally:
        await guarded.close()
    with pytest.raises(OSError):
        await PublicResolver().resolve("localhost", 80)


async def test_a_user_credential_manages_only_webhooks_inside_its_scope(store: SqlWebhookStore) -> None:
    hooks = registry(store)
    alice = Principal("k-alice", Role.USER, user_id="alice")
    mine = await hooks.create(alice, url="http://127.0.0.1:9/", name="mine", event_types=["memory_add"])
    assert mine.scope == Scope("alice")
    project = await hooks.create(ADMIN, url="http://127.0.0.1:9/", name="all", event_types=["memory_add"])
    assert [h.id for h in await hooks.webhooks(alice)] == [mine.id]
    with pytest.raises(NotFound):
        await hooks.delete(alice, project.id)
    rotated = await hooks.rotate_secret(alice, mine.id)
    assert rotated.secret != mine.secret and rotated.secret.startswith("whsec_")


async def test_the_memory_repository_writes_deliveries_with_its_commit_and_erasing_removes_them(
    sql_url: str,
) -> None:
    repo, store = SqlMemoryRepository(create_engine(sql_url)), SqlWebhookStore(create_engine(sql_url))
    try:
        hooks = registry(store)
        hook = await hooks.create(ADMIN, url="http://127.0.0.1:9/", name="h", event_types=["memory_add"])
        events = [added("one", "alice"), added("two", "alice"), added("three", "bob")]
        await repo.commit(ChangeSet(deliveries=await hooks.plan(events)))
        assert len(await deliveries(store, hook.id)) == 3
        await repo.commit(ChangeSet(erased=["m-one"]))
        await repo.commit(ChangeSet(erased_scope=Scope("bob")))
        left = await deliveries(store, hook.id)
        assert [(d.memory_id, d.scope) for d in left] == [("m-two", Scope("alice"))]
    finally:
        await repo.close()
        await store.close()


async def test_a_wake_up_just_before_stop_does_not_keep_the_worker_running(
    store: SqlWebhookStore, transport: AiohttpTransport,
) -> None:
    # an add's wake-up can land in the same loop turn as the server's shutdown: the stop must
    # still end the worker (with wait_for on Python 3.11 it looped on and shutdown hung forever)
    worker = DeliveryWorker(store, transport, FAST, replace(QUICK, poll_s=30))
    for _ in range(3):
        worker.start()
        await asyncio.sleep(0.2)  # idle, waiting for a wake-up
        worker.wake()
        async with asyncio.timeout(5):
            await worker.stop()
