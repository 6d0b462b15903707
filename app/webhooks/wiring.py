"""Runs webhooks inside the app: the store, the registry (an event bus sink that enqueues
deliveries) and the delivery worker with its HTTP transport, opened after the service and closed
before it."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from app import bootstrap
from app.keys import SERVICE_KEY, SETTINGS_KEY, WEBHOOKS_KEY
from app.ops.runtime import RUNTIME_KEY
from app.settings import Settings, WebhookSettings
from app.webhooks.transport import AiohttpTransport, TargetRule
from memory.webhook_delivery import DeliveryWorker, RetryPolicy, WorkerLimits
from memory.webhooks import WebhookRegistry


def policy(cfg: WebhookSettings) -> RetryPolicy:
    return RetryPolicy(max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s, max_backoff_s=cfg.max_backoff_s,
                       max_age_s=cfg.max_age_s)


def limits(cfg: WebhookSettings) -> WorkerLimits:
    # a claimed row stays hidden for two attempts' time and a margin: long enough that no other
    # replica takes it while this one is still sending it
    return WorkerLimits(concurrency=cfg.concurrency, per_webhook=cfg.per_webhook, poll_s=cfg.poll_s,
                        lease_s=2 * cfg.timeout_s + 10, retention_s=cfg.retention_s,
                        prune_every_s=min(600.0, cfg.retention_s / 10))


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    cfg = app[SETTINGS_KEY].webhooks
    metrics = app[RUNTIME_KEY].metrics
    rule = TargetRule(cfg.allow_private_targets)
    transport = AiohttpTransport(rule, cfg.timeout_s, cfg.concurrency)
    async with bootstrap.webhook_store_context(app[SETTINGS_KEY]) as store:
        worker = DeliveryWorker(store, transport, policy(cfg), limits(cfg),
                                on_outcome=metrics.webhook_delivery if metrics is not None else None)
        registry = WebhookRegistry(store, rule.check, cache_s=cfg.cache_s, on_enqueued=worker.wake, in_commit=True)
        service = app[SERVICE_KEY]
        service.use_webhooks(registry.plan)  # memory events' deliveries: in the change's transaction
        events = service.events
        events.add_sink(registry.enqueue)  # relation and reset events' deliveries, and the worker's wake-up
        if metrics is not None:
            metrics.count_webhook_queue = store.pending_count
        app[WEBHOOKS_KEY] = registry
        worker.start()
        try:
            yield
        finally:
            events.remove_sink(registry.enqueue)
            service.use_webhooks(None)
            if metrics is not None:
                metrics.count_webhook_queue = None
            await worker.stop()
            await transport.close()


def install_webhooks(app: web.Application, settings: Settings) -> None:
    """After the service's cleanup context (the registry listens to its event bus)."""
    if settings.webhooks.enabled:
        app.cleanup_ctx.append(_webhooks)
