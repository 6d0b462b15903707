"""The delivery worker: sends due webhook deliveries from the outbox, signed, with retries.

Rows are claimed atomically with a lease (WebhookStore.claim), so replicas sharing one database
never send a row twice while its lease runs; a process that dies mid-send leaves rows that come
due again when their lease ends (at-least-once: receivers dedupe by the event id). Concurrency
is bounded overall and per webhook, so one slow receiver holds only its own slots."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from memory.background import cancel
from memory.errors import AgentMemError, DeliveryError
from memory.models import utcnow
from memory.webhooks import EVENT_NAMES, Delivery, DeliveryStatus, Outcome, Webhook, WebhookStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AgentMem-Signature"
TIMESTAMP_HEADER = "X-AgentMem-Timestamp"
_MAX_ERROR = 500


class Transport(Protocol):
    """Sends one POST; implemented at the edge (aiohttp, with the target rules)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The response's status (redirects are not followed); DeliveryError without one."""
        ...


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of "{timestamp}.{body}" under the webhook's secret."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 2.0  # before the second attempt; doubles each time
    max_backoff_s: float = 600.0
    max_age_s: float = 86_400.0  # a delivery not made within this long after its event fails

    def delay(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones (jitter: 50-100 %)."""
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1))
        return base * random.uniform(0.5, 1.0)  # nosec B311  # spreading retries, not a secret


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    concurrency: int = 16  # deliveries in flight in this process
    per_webhook: int = 2  # deliveries in flight to one webhook
    poll_s: float = 1.0  # how often the outbox is read when nothing wakes the worker
    lease_s: float = 60.0  # claimed rows stay hidden from other workers this long
    retention_s: float = 7 * 86_400.0  # delivered and failed rows are kept this long
    prune_every_s: float = 600.0


OutcomeHook = Callable[[str], None]  # "delivered", "retry" or "failed"


class DeliveryWorker:
    def __init__(self, store: WebhookStore, transport: Transport, policy: RetryPolicy = RetryPolicy(),
                 limits: WorkerLimits = WorkerLimits(), on_outcome: OutcomeHook | None = None) -> None:
        self._store = store
        self._transport = transport
        self._policy = policy
        self._limits = limits
        self._on_outcome = on_outcome
        self._busy: Counter[str] = Counter()  # webhook id -> deliveries in flight
        self._sending: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        for task in list(self._sending):
            await cancel(task)  # their rows come due again when the lease ends

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                await self.pump()
                if loop.time() - self._pruned_at > self._limits.prune_every_s:
                    self._pruned_at = loop.time()
                    await self._store.prune(utcnow() - timedelta(seconds=self._limits.retention_s))
            except AgentMemError as exc:  # the database is away: try again at the next poll
                log.warning("webhook outbox unavailable: %s", exc)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # lands as the event is set, and stop() would then wait for this loop forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._limits.poll_s):
                    await self._wake.wait()

    async def pump(self) -> int:
        """Claim what is due and start sending it; returns how many were started."""
        free = self._limits.concurrency - len(self._sending)
        if free <= 0:
            return 0
        now = utcnow()
        full = [id for id, n in self._busy.items() if n >= self._limits.per_webhook]
        claimed = await self._store.claim(now, now + timedelta(seconds=self._limits.lease_s), free, full)
        if not claimed:
            return 0
        hooks = await self._store.get_webhooks(sorted({d.webhook_id for d in claimed}))
        started, handed_back = 0, []
        for delivery in claimed:
            if self._busy[delivery.webhook_id] >= self._limits.per_webhook:
                handed_back.append(delivery.id)  # its webhook's slots filled up within this claim
                continue
            self._busy[delivery.webhook_id] += 1
            task = asyncio.create_task(self._send(delivery, hooks.get(delivery.webhook_id)))
            self._sending.add(task)
            task.add_done_callback(self._sent)
            started += 1
        if handed_back:
            await self._store.release(handed_back, now)
        return started

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()  # a slot is free: due rows may be waiting for it

    async def _send(self, delivery: Delivery, hook: Webhook | None) -> None:
        try:
            outcome = await self._attempt(delivery, hook)
            await self._store.finish(delivery.id, outcome)
            if self._on_outcome is not None:
                self._on_outcome("retry" if outcome.status is DeliveryStatus.PENDING else outcome.status.value)
        except AgentMemError as exc:
            log.warning("webhook delivery %s not recorded: %s", delivery.id, exc)
        finally:
            self._busy[delivery.webhook_id] -= 1
            if self._busy[delivery.webhook_id] <= 0:
                del self._busy[delivery.webhook_id]

    async def _attempt(self, delivery: Delivery, hook: Webhook | None) -> Outcome:
        attempts = delivery.attempts + 1
        if hook is None or not hook.active:
            return Outcome(DeliveryStatus.FAILED, delivery.attempts, utcnow(), None, "the webhook is switched off",
                           utcnow())
        body = delivery.body.encode()
        timestamp = int(utcnow().timestamp())
        headers = {
            "Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(hook.secret, timestamp, body), "X-AgentMem-Event-Id": delivery.event_id,
            "X-AgentMem-Delivery-Id": delivery.id, "X-AgentMem-Event": EVENT_NAMES[delivery.kind],
        }
        code: int | None = None
        try:
            code = await self._transport.post(hook.url, body, headers)
            error = None if 200 <= code < 300 else f"the receiver answered {code}"
        except DeliveryError as exc:
            error = str(exc)[:_MAX_ERROR]
        now = utcnow()
        if error is None:
            return Outcome(DeliveryStatus.DELIVERED, attempts, now, code, None, now)
        too_old = (now - delivery.created_at).total_seconds() >= self._policy.max_age_s
        if attempts >= self._policy.max_attempts or too_old:
            return Outcome(DeliveryStatus.FAILED, attempts, now, code, error, now)
        later = now + timedelta(seconds=self._policy.delay(attempts))
        return Outcome(DeliveryStatus.PENDING, attempts, later, code, error, now)
