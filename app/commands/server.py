"""The server `python -m app serve` runs: the listener comes up before the heavy start.

aiohttp runs an app's start-up (migrations, the embedded graph server, the index rebuild: from
a second to minutes) before it binds the port. Orchestrators would see nothing at all during
that time, so a small probe app binds the port first and answers /health/live (200) and
/health/ready (503, naming the steps still pending) until the real app has started; then the
probe lets go of the port and the real app binds it."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from app.ops import http, logs
from app.ops.config import redact_url
from app.ops.runtime import RUNTIME_KEY, Runtime
from app.process import freeze_heap, release_free_memory, tune_malloc
from app.settings import Settings
from memory.background import cancel
from memory.errors import StoreUnavailable

log = logging.getLogger("agentmem.serve")


class PortInUse(OSError):
    pass


def run(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    logs.configure(settings.log_level, settings.log_format, file=settings.log)
    tune_malloc(settings.process)  # before any thread allocates: arenas are created on first use
    return asyncio.run(serve(settings, reload))


async def serve(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    from app.web import (
        create_app,  # the GraphQL stack loads after logging is configured
    )

    app = create_app(settings, reload=reload)
    runtime = app[RUNTIME_KEY]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    probe = web.AppRunner(http.probe_app(runtime), handle_signals=False, access_log=None)
    await probe.setup()
    try:
        port = await _bind(probe, settings.host, settings.port)
        log.info("starting; /health/live answers on http://%s:%d", settings.host, port)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        try:
            started = await _until_stopped(runner.setup(), stop)
        except BaseException as exc:
            runtime.failure = f"{type(exc).__name__}: {exc}"
            await app.cleanup()  # closes what did open (the runner cannot: it never started)
            if _is_redis_error(exc):  # at start, Redis down is a configuration problem to state
                raise StoreUnavailable("redis", f"{exc} (redis_url = {redact_url(settings.redis_url or '')})") from exc
            raise
        if not started:
            log.info("stopped during start-up")
            await app.cleanup()
            return 0
    finally:
        await probe.cleanup()
    metrics: web.AppRunner | None = None
    settled = asyncio.create_task(_freeze_when_settled(runtime), name="freeze-heap")
    try:
        await _bind(runner, settings.host, port)
        log.info("serving http://%s:%d/graphql", settings.host, port)
        if settings.metrics.port is not None:
            metrics = web.AppRunner(http.metrics_app(runtime, settings.metrics), handle_signals=False, access_log=None)
            await metrics.setup()
            bound = await _bind(metrics, settings.metrics.host, settings.metrics.port)
            log.info("metrics on http://%s:%d/metrics", settings.metrics.host, bound)
        await stop.wait()
        log.info("stopping")
    finally:
        await cancel(settled)
        if metrics is not None:
            await metrics.cleanup()
        await runner.cleanup()
    return 0


async def _freeze_when_settled(runtime: Runtime) -> None:
    """Freeze what start-up made before the port opens, and again once the text index, built
    in the background, holds every memory (app/process.py: freeze_heap); then give back the
    heap its build freed (reading SQL a page at a time: ~13 MiB at 100k memories, otherwise
    kept until the embedder's first idle second). Likewise once the vector index's graph,
    when a rebuild builds it in the background, is done with the vectors it staged (~150 MiB
    at 100k) and has been saved and arranged."""
    freeze_heap()
    if runtime.service is not None and await runtime.service.text_index_built():
        freeze_heap()
        release_free_memory()
    if runtime.service is not None and runtime.index is not None and runtime.index.building() is not None:
        await runtime.service.keeper.settled()  # built, then saved and arranged: each frees heap
        release_free_memory()


def _is_redis_error(exc: BaseException) -> bool:
    if "redis" not in sys.modules:  # never loaded (no redis_url): it cannot have raised
        return False
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError)


async def _bind(runner: web.AppRunner, host: str, port: int) -> int:
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        raise PortInUse(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound = runner.addresses[0]
    return int(bound[1])


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless a stop signal comes first; False when stopped."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        task.result()  # a start-up failure propagates
        return True
    await cancel(task, again_after_s=None)  # its clean-up stops the graph server: up to 15 s, then a kill
    return False
