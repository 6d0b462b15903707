"""Plugs the operational pieces into an app: the runtime record, metrics, tracing (when enabled),
the health monitor, the request middleware, the health and metrics routes, and the SIGHUP reloader."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from app.ops import http, logs
from app.ops.health import HealthMonitor
from app.ops.metrics import Metrics
from app.ops.reload import Reloader
from app.ops.runtime import MONITOR_KEY, RELOADER_KEY, RUNTIME_KEY, Runtime
from app.settings import Settings

log = logging.getLogger(__name__)


def install(app: web.Application, settings: Settings, reload: Callable[[], Settings] | None = None) -> Runtime:
    """Call before the service's cleanup context is added: this one must open first."""
    runtime = Runtime(metrics=Metrics())
    monitor = HealthMonitor(runtime, settings)
    reloader = Reloader(settings, reload)
    app[RUNTIME_KEY] = runtime
    app[MONITOR_KEY] = monitor
    app[RELOADER_KEY] = reloader
    app.middlewares.insert(0, http.observe)  # outermost: its latency and status are the client's
    if settings.tracing.enabled:
        from app.ops import tracing  # the OpenTelemetry SDK loads only when it is used

        runtime.tracing = tracing.install(app, settings.tracing)  # encloses the one above
    app.on_response_prepare.append(http.add_request_id_header)
    http.add_routes(app, settings.metrics)
    reloader.on_change("log_level", lambda new, old: logs.set_level(new.log_level))
    reloader.on_change("log_format", lambda new, old: logs.configure(new.log_level, new.log_format))

    def health_config(new: Settings, old: Settings) -> None:
        monitor.config = new.health

    reloader.on_change("health", health_config)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # SIGHUP only when the app was given a configuration source to re-read (the CLI's serve)
        loop = asyncio.get_running_loop()
        listening = reload is not None
        if listening:
            reloader.install(loop)
        try:
            yield
        finally:
            if listening:
                reloader.uninstall(loop)
            await monitor.close()

    app.cleanup_ctx.append(lifecycle)
    return runtime
