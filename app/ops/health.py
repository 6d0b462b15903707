"""Health: liveness, readiness and per-component status with latency.

Probes run concurrently, each bounded by `health.timeout_s`, and one round answers every
request for `health.cache_s` (concurrent requests share the round in flight), so /health stays
cheap under a tight polling loop and bounded when a store hangs. Remote providers (an OpenAI-
compatible LLM or embedder) are probed at most every REMOTE_EVERY_S: each probe is a request to
someone else's server.

The local embedder is never probed with a request: a probe would queue behind real work and a
saturated replica would call itself unready exactly when it is busiest. Its state says whether
it can serve: the model loaded and warmed up, its worker open, and progress within
`health.embedder_stall_s` whenever work is running or queued.

Critical components (SQL, the vector index, the embedder) decide readiness; the graph, the LLM
and Redis only degrade the service: writes still succeed (graph work waits in the outbox)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from app.ops.runtime import Runtime
from app.settings import HealthSettings, Settings
from memory.concurrency import SharedCalls
from memory.ports import EmbedderState

if TYPE_CHECKING:  # both loaded when first used: a deployment without Redis or an LLM saves ~15 MiB
    import httpx
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

CRITICAL = ("sql", "vector_index", "embedder")
REMOTE_EVERY_S = 15.0


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    status: str  # up | down | disabled | starting
    latency_ms: float | None = None
    detail: str | None = None

    @property
    def critical(self) -> bool:
        return self.name in CRITICAL


@dataclass(frozen=True, slots=True)
class Report:
    status: str  # ok | degraded | down | starting
    ready: bool
    components: tuple[Component, ...]

    def waiting_for(self) -> list[str]:
        # while starting (and after a failed start), every step not up yet: the steps include
        # critical ones (vector_index, embedder), and the graph's JVM often comes up last
        if self.status == "starting" or (self.status == "down" and not any(c.critical for c in self.components)):
            return [c.name for c in self.components if c.status not in ("up", "disabled")]  # start-up steps
        return [c.name for c in self.components if c.critical and c.status != "up"]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "ready": self.ready}
        body["components"] = {c.name: {k: v for k, v in asdict(c).items() if k != "name" and v is not None}
                              for c in self.components}
        if not self.ready:
            body["waiting_for"] = self.waiting_for()
        return body


def starting_report(runtime: Runtime) -> Report:
    """While the service starts: what has come up and what is still pending."""
    if runtime.failure:
        return Report("down", False, (Component("service", "down", detail=runtime.failure),))
    parts = tuple(Component(step, "up" if state == "done" else state if state == "disabled" else "starting")
                  for step, state in runtime.steps.items())
    if not runtime.pending():
        # every step is up, and the rest of the app's start-up (credentials, webhooks...) runs
        # before the real app takes over this listener: say that it is what readiness waits for
        parts += (Component("service", "starting"),)
    return Report("starting", False, parts)


class HealthMonitor:
    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        self._runtime = runtime
        self.config: HealthSettings = settings.health  # replaced on reload
        self._redis_url = settings.redis_url
        self._llm_url = settings.llm.base_url
        self._remote_embedder = settings.embedder.provider == "openai"
        self._redis: aioredis.Redis | None = None
        self._http: httpx.AsyncClient | None = None
        self._cached: tuple[float, Report] | None = None
        self._rounds: SharedCalls[None, Report] = SharedCalls("health-round")  # one round at a time
        self._remote: dict[str, tuple[float, Component]] = {}
        # set by the auth wiring when the identity provider's keys come from a JWKS
        self.identity_provider: Callable[[], Component] | None = None

    async def report(self) -> Report:
        if not self._runtime.started:
            return starting_report(self._runtime)
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.config.cache_s:
            return self._cached[1]
        return await self._rounds.join(None, self._check_all)

    async def close(self) -> None:
        self._rounds.cancel()
        if self._redis is not None:
            await self._redis.aclose()
        if self._http is not None:
            await self._http.aclose()

    async def _check_all(self) -> Report:
        rt = self._runtime
        probes: list[Awaitable[Component]] = [
            self._probe("sql", rt.repo.ping),
            self._probe("vector_index", self._index),
            self._remote_probe("embedder", self._embed) if self._remote_embedder else self._local_embedder(),
            self._probe("graph", self._graph) if rt.graph is not None else _constant("graph", "disabled"),
            self._remote_probe("llm", self._llm) if self._llm_url else _constant("llm", "disabled"),
            self._probe("redis", self._ping_redis) if self._redis_url else _constant("redis", "disabled"),
            self._text_index(),
        ]
        components = tuple(await asyncio.gather(*probes))
        if self.identity_provider is not None:
            components += (self.identity_provider(),)
        ready = all(c.status == "up" for c in components if c.critical)
        degraded = any(c.status == "down" for c in components if not c.critical)
        status = "down" if not ready else "degraded" if degraded else "ok"
        report = Report(status, ready, components)
        self._cached = (time.monotonic(), report)
        return report

    async def _probe(self, name: str, check: Callable[[], Awaitable[str | None]]) -> Component:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                detail = await check()
        except TimeoutError:
            return Component(name, "down", _ms(started), f"no answer within {self.config.timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001  any failure of a probe is that component's health, not ours
            # /health answers anyone: the message (hosts, URLs, driver text) goes to the log only
            log.warning("health probe %s failed: %s: %s", name, type(exc).__name__, exc)
            return Component(name, "down", _ms(started), f"failed ({type(exc).__name__}); see the server log")
        return Component(name, "up", _ms(started), detail or None)

    async def _local_embedder(self) -> Component:
        started = time.perf_counter()
        component = embedder_component(self._runtime.embedder.state(), self.config.embedder_stall_s)
        return replace(component, latency_ms=_ms(started))

    async def _text_index(self) -> Component:
        # not critical: while it is built after start, searches read SQL's own full-text index
        service = self._runtime.service
        state, size = service.text_index_state() if service is not None else ("building", 0)
        if state == "disabled":
            return Component("text_index", "disabled")
        detail = f"{size} memories" if state == "ready" else f"building ({size} memories so far; searches read SQL)"
        return Component("text_index", "up" if state == "ready" else "starting", 0.0, detail)

    async def _remote_probe(self, name: str, check: Callable[[], Awaitable[str | None]]) -> Component:
        last = self._remote.get(name)
        if last is not None and time.monotonic() - last[0] < REMOTE_EVERY_S:
            return last[1]
        component = await self._probe(name, check)
        self._remote[name] = (time.monotonic(), component)
        return component

    # --- the checks: each returns an optional detail, or raises --------------------------------
    async def _index(self) -> str:
        index = self._runtime.index
        detail = f"{await index.count()} vectors"
        if (building := index.building()) is not None:
            detail += f"; graph building in the background ({building[0]} of {building[1]}; searches scan exactly)"
        service = self._runtime.service
        if service is not None and service.keeper.settling:
            detail += "; settling after the start (saved, laid out, largest scopes prepared)"
        return detail

    async def _embed(self) -> None:
        await self._runtime.embedder.embed(["health check"])

    async def _graph(self) -> str | None:
        await self._runtime.graph.ping()
        service = self._runtime.service
        writer = service.writer if service is not None else None
        if writer is not None and not writer.healthy:
            return "answers, but the last graph write failed; work waits in the outbox"
        return None

    async def _llm(self) -> str:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient()
        assert self._llm_url is not None
        response = await self._http.get(self._llm_url.rstrip("/") + "/models", timeout=self.config.timeout_s)
        if response.status_code >= 500:
            raise RuntimeError(f"HTTP {response.status_code}")
        return f"HTTP {response.status_code}"  # 401/404 still prove the server answers

    async def _ping_redis(self) -> None:
        if self._redis is None:
            assert self._redis_url is not None
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(
                self._redis_url, socket_timeout=self.config.timeout_s, socket_connect_timeout=self.config.timeout_s
            )
        await self._redis.ping()


def embedder_component(state: EmbedderState, stall_s: float) -> Component:
    """The local embedder's health from its state: busy is fine, stuck is not."""
    if not state.alive:
        return Component("embedder", "down", detail="the model worker is closed")
    if not state.loaded:
        return Component("embedder", "down", detail="the model is not loaded yet")
    if state.stalled_s > stall_s:
        return Component(
            "embedder", "down",
            detail=f"no progress for {state.stalled_s:.1f} s with {state.queued} texts queued",
        )
    detail = f"{state.queued} texts queued"
    if state.last_batch is not None and state.last_batch_ms is not None:
        detail += f"; last batch {state.last_batch} texts in {state.last_batch_ms:g} ms"
    return Component("embedder", "up", detail=detail)


def identity_provider_component(keys: int | None, expires_in_s: float | None, failing: bool) -> Component:
    """The JWKS cache's state, without a request of its own (it fetches when tokens need it).
    Never critical: a stale or missing key set only stops tokens from the provider."""
    if keys is None:
        if failing:
            return Component("identity_provider", "down", detail="no key set: fetching failed; see the server log")
        return Component("identity_provider", "up", detail="key set not fetched yet (fetched for the first token)")
    if expires_in_s is not None and expires_in_s < 0 and failing:
        return Component("identity_provider", "down",
                         detail=f"serving {keys} cached keys expired {-expires_in_s:.0f} s ago; the provider "
                         "does not answer")
    detail = f"{keys} keys, expire in {max(expires_in_s or 0.0, 0.0):.0f} s"
    return Component("identity_provider", "up", detail=detail + ("; the last refresh failed" if failing else ""))


async def _constant(name: str, status: str) -> Component:
    return Component(name, status)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
