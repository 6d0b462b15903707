"""The operational HTTP surface: request ids, access logs and HTTP metrics (one middleware),
/health, /health/live, /health/ready and /metrics."""
from __future__ import annotations

import hmac
import logging
import re
import time

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST

from app.ops import logs, vitals
from app.ops.health import Report, starting_report
from app.ops.runtime import MONITOR_KEY, RUNTIME_KEY, Runtime
from app.settings import MetricsSettings
from memory.ids import random_uuid

log = logging.getLogger("agentmem.access")

REQUEST_ID_HEADER = "X-Request-ID"
# a caller's id is kept only when it is short and plain: it is echoed in headers and logs
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
REQUEST_ID = web.RequestKey("request_id", str)
# the status the client got, for the middleware outside this one (tracing)
STATUS = web.RequestKey("status", int)
# health and metrics are polled every few seconds: at DEBUG, so they do not drown the log
_QUIET_ROUTES = {"/health", "/health/live", "/health/ready", "/metrics"}


def request_id_from(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_ID.match(given) else random_uuid().hex


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    # the route pattern, not the path: /graphiql/assets/{name}, never one series per file
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_from(request)
    request[REQUEST_ID] = request_id
    # each request starts from a clean log context, whatever task layout the server uses
    tokens = [logs.REQUEST_ID.set(request_id), logs.PRINCIPAL.set(None), logs.OPERATION.set(None)]
    runtime = request.app.get(RUNTIME_KEY)
    metrics = runtime.metrics if runtime is not None else None
    websocket = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
    if websocket and metrics is not None:
        metrics.websockets.inc()
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        request[STATUS] = status
        route = route_of(request)
        if metrics is not None:
            if websocket:
                metrics.websockets.dec()
            metrics.http_request(route, request.method, status, elapsed)
        level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
        log.log(level, "%s %s %s", request.method, route, status, extra={
            "method": request.method, "route": route, "status": status, "latency_ms": round(elapsed * 1000, 2),
        })
        for var, token in zip((logs.REQUEST_ID, logs.PRINCIPAL, logs.OPERATION), tokens):
            var.reset(token)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: also reaches WebSocket handshakes and file responses."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


async def live(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive", "version": vitals.version()})


async def ready(request: web.Request) -> web.Response:
    report = await _report(request)
    return web.json_response(report.as_json(), status=200 if report.ready else 503)


async def health(request: web.Request) -> web.Response:
    report = await _report(request)
    body = {**report.as_json(), **request.app[RUNTIME_KEY].vitals.as_json()}
    return web.json_response(body, status=200 if report.ready else 503)


async def _report(request: web.Request) -> Report:
    monitor = request.app.get(MONITOR_KEY)
    if monitor is None:  # the start-up probe app (see app/commands/server.py) has no monitor
        return starting_report(request.app[RUNTIME_KEY])
    return await monitor.report()


def metrics_handler(cfg: MetricsSettings) -> Handler:
    """GET /metrics; with `cfg.token` set, only for `Authorization: Bearer <token>`."""
    expected = f"Bearer {cfg.token.get_secret_value()}".encode() if cfg.token else None

    async def metrics(request: web.Request) -> web.StreamResponse:
        if expected is not None and not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
            body = {"errors": [{"message": "metrics need Authorization: Bearer <metrics.token>",
                                "extensions": {"code": "UNAUTHENTICATED"}}]}
            return web.json_response(body, status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        runtime = request.app[RUNTIME_KEY]
        assert runtime.metrics is not None
        await runtime.metrics.collect_live(runtime.service, cfg.cache_s)
        return web.Response(body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def add_routes(app: web.Application, cfg: MetricsSettings) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    if cfg.port is None:  # else served by metrics_app on its own port
        app.router.add_get("/metrics", metrics_handler(cfg))


def metrics_app(runtime: Runtime, cfg: MetricsSettings) -> web.Application:
    """/metrics alone, for a port that only the monitoring network reaches."""
    app = web.Application()
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/metrics", metrics_handler(cfg))
    return app


def probe_app(runtime: Runtime) -> web.Application:
    """Answers the health routes while the real app starts (the listener comes up first)."""
    app = web.Application(middlewares=[observe])
    app[RUNTIME_KEY] = runtime
    app.on_response_prepare.append(add_request_id_header)
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_route("*", "/{tail:.*}", _starting)
    return app


async def _starting(request: web.Request) -> web.Response:
    body = {"errors": [{"message": "AgentMem is starting; retry shortly", "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
    return web.json_response(body, status=503, headers={"Retry-After": "2"})
