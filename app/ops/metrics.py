"""Prometheus metrics, one registry per app (tests run several apps in one process).

Counters and histograms move as things happen: the HTTP middleware, the GraphQL extension, the
core's Observer seam (memory/observe.py: core operations and, through the proxies the
composition root puts around the stores, store calls) and the embedding batcher's hook. Gauges of live state (memories, entities, relations, outbox backlog,
subscriptions) are read when /metrics is scraped, at most once per `metrics.cache_s` (the counts
run SQL and graph queries: scrapers, however many or frequent, must not become load)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from memory.errors import AgentMemError
from memory.observe import CORE, Finish, error_code

if TYPE_CHECKING:
    from memory.service import MemoryService

NS = "agentmem"
# latencies from a cached health check (~0.1 ms) to a slow LLM-backed add (seconds)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# client-chosen operation names are label values: bound how many distinct ones we keep
MAX_OPERATION_NAMES = 200
COUNTS_TIMEOUT_S = 2.0

# the *_created series double the output and no dashboard of ours reads them (process-wide switch)
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(f"{NS}_http_requests", "HTTP requests by route, method and status",
                                     ["route", "method", "status"], registry=r)
        self.http_latency = Histogram(f"{NS}_http_request_duration_seconds", "HTTP request latency",
                                      ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.graphql_operations = Counter(f"{NS}_graphql_operations", "GraphQL operations by type and name",
                                          ["type", "name"], registry=r)
        self.graphql_latency = Histogram(f"{NS}_graphql_operation_duration_seconds", "GraphQL operation latency",
                                         ["type"], buckets=LATENCY_BUCKETS, registry=r)
        self.graphql_errors = Counter(f"{NS}_graphql_errors", "GraphQL errors by extensions.code", ["code"],
                                      registry=r)
        self.core_operations = Counter(f"{NS}_core_operations", "core operations by outcome (ok or error code)",
                                       ["operation", "outcome"], registry=r)
        self.core_latency = Histogram(f"{NS}_core_operation_duration_seconds", "core operation latency",
                                      ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.embedding_batch = Histogram(f"{NS}_embedding_batch_size", "texts per embedding model call",
                                         buckets=BATCH_BUCKETS, registry=r)
        self.embedding_latency = Histogram(f"{NS}_embedding_batch_duration_seconds", "time per embedding model call",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.store_latency = Histogram(f"{NS}_store_call_duration_seconds",
                                       "calls to SQL, vector index, graph, embedder, LLM, reranker",
                                       ["store", "operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_errors = Counter(f"{NS}_store_errors", "failed store calls", ["store", "operation"], registry=r)
        self.websockets = Gauge(f"{NS}_websocket_connections", "open WebSocket connections", registry=r)
        self.subscriptions = Gauge(f"{NS}_subscriptions", "active event subscriptions", registry=r)
        self.rate_limited = Counter(f"{NS}_rate_limited", "requests refused by a rate limit", ["edge"], registry=r)
        self.items = Gauge(f"{NS}_items", "live memories, entities and valid relations", ["kind"], registry=r)
        self.outbox = Gauge(f"{NS}_graph_outbox_backlog", "graph work waiting in the outbox", registry=r)
        self.graph_writer_healthy = Gauge(f"{NS}_graph_writer_healthy", "1 while graph writes succeed", registry=r)
        self.webhook_deliveries = Counter(f"{NS}_webhook_deliveries", "webhook delivery attempts by outcome "
                                          "(delivered, retry, failed)", ["outcome"], registry=r)
        self.webhook_queue = Gauge(f"{NS}_webhook_queue_depth", "webhook deliveries pending", registry=r)
        # set by the webhook wiring: counts the pending deliveries (an SQL count, read with the other counts)
        self.count_webhook_queue: Callable[[], Awaitable[int]] | None = None
        self.scrape_seconds = Gauge(f"{NS}_metrics_collect_seconds", "time to gather the live gauges", registry=r)
        self._names: set[str] = set()
        # labelled children looked up once: labels() takes a lock and builds a key on every call,
        # and a search makes several store calls
        self._store_children: dict[tuple[str, str], Any] = {}
        self._collected_at: float | None = None
        self._collecting = asyncio.Lock()

    # --- hooks ----------------------------------------------------------------------------
    def start(self, layer: str, operation: str) -> Finish:
        """memory.observe.Observer: a core operation or a store call."""
        if layer == CORE:
            return lambda seconds, error: self.operation(operation, seconds, error_code(error))
        return lambda seconds, error: self.store_call(layer, operation, seconds, error is not None)

    def operation(self, name: str, seconds: float, error: str | None) -> None:
        self.core_operations.labels(name, error or "ok").inc()
        self.core_latency.labels(name).observe(seconds)

    def store_call(self, store: str, operation: str, seconds: float, failed: bool) -> None:
        child = self._store_children.get((store, operation))
        if child is None:
            child = self._store_children[(store, operation)] = self.store_latency.labels(store, operation)
        child.observe(seconds)
        if failed:
            self.store_errors.labels(store, operation).inc()

    def embedding_call(self, size: int, seconds: float) -> None:
        self.embedding_batch.observe(size)
        self.embedding_latency.observe(seconds)

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def graphql_operation(self, kind: str, name: str | None, seconds: float, codes: list[str]) -> None:
        label = name or "anonymous"
        if label not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                label = "other"
            else:
                self._names.add(label)
        self.graphql_operations.labels(kind, label).inc()
        self.graphql_latency.labels(kind).observe(seconds)
        for code in codes:
            self.graphql_errors.labels(code).inc()
            if code == "RATE_LIMITED":
                self.rate_limited.labels("graphql").inc()

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_latency.labels(route, method).observe(seconds)
        if status == 429:
            self.rate_limited.labels("http").inc()

    # --- scrape ---------------------------------------------------------------------------
    async def collect_live(self, service: MemoryService | None, max_age_s: float = 0.0) -> None:
        """Set the gauges of live state. In-process ones every time; the store counts unless read
        less than `max_age_s` ago (concurrent scrapes share one reading; a store that does not
        answer in time keeps its last value)."""
        started = time.perf_counter()
        if service is not None:
            self.subscriptions.set(service.events.subscriber_count)
            writer = service.writer
            if writer is not None:
                self.graph_writer_healthy.set(1 if writer.healthy else 0)
            async with self._collecting:
                fresh = self._collected_at is not None and time.monotonic() - self._collected_at < max_age_s
                if not fresh:
                    await self._count(service)
                    self._collected_at = time.monotonic()
        self.scrape_seconds.set(time.perf_counter() - started)

    async def _count(self, service: MemoryService) -> None:
        with contextlib.suppress(TimeoutError, AgentMemError):
            async with asyncio.timeout(COUNTS_TIMEOUT_S):
                counts = await service.counts()
                self.items.labels("memories").set(counts["memories"])
                self.outbox.set(counts["outbox"])
                for kind in ("entities", "relations"):
                    if kind in counts:
                        self.items.labels(kind).set(counts[kind])
                if self.count_webhook_queue is not None:
                    self.webhook_queue.set(await self.count_webhook_queue())

    def render(self) -> bytes:
        return generate_latest(self.registry)
