"""OpenTelemetry tracing, installed only when `tracing.enabled` (app/ops/wiring.py imports this
module then, so an app without tracing loads no SDK and runs none of this).

Spans nest as the work does: the HTTP request (continuing the caller's W3C `traceparent`), the
GraphQL operation in it (app/ops/graphql_ext.py), the core operation, and each store call the
core makes (the core's Observer seam, memory/observe.py). Core and store spans are only made
under a recorded span: the background work (catching up with SQL, saving the index, draining the
graph outbox) would otherwise start a trace every few seconds, and a request left out by
sampling costs nothing below its root. Spans carry names, codes and ids, never memory text.

Each app has its own TracerProvider (tests run several apps in one process; the global one can
be set once); `traceparent` is read with the W3C propagator directly, whatever the process's
global propagator is."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.ops.config import redact_url
from app.ops.http import REQUEST_ID, STATUS, route_of
from app.settings import TracingSettings
from memory.observe import CORE, Finish, error_code

log = logging.getLogger(__name__)

_W3C = TraceContextTextMapPropagator()
TRACES_PATH = "/v1/traces"

# the end of a call below no recorded span: nothing to do
_IGNORE: Finish = lambda seconds, error: None  # noqa: E731


def traces_url(endpoint: str) -> str:
    """A collector's base URL gets the OTLP/HTTP traces path; a URL with a path is used as given."""
    return endpoint.rstrip("/") + TRACES_PATH if urlsplit(endpoint).path in ("", "/") else endpoint


def _failed(span: Span, error: BaseException) -> None:
    # the exception's type and our code only: messages can quote what a caller sent
    code = error_code(error) or "INTERNAL"
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, code))


class SpanObserver:
    """memory.observe.Observer: a child span per core operation and store call."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start(self, layer: str, operation: str) -> Finish:
        if not trace.get_current_span().is_recording():
            return _IGNORE
        span = self._tracer.start_span(
            f"{layer} {operation}", kind=SpanKind.INTERNAL if layer == CORE else SpanKind.CLIENT,
            attributes={"agentmem.layer": layer, "agentmem.operation": operation},
        )
        # current until the call ends: the calls it makes, and tasks it starts, become children
        token = otel_context.attach(trace.set_span_in_context(span))

        def finish(seconds: float, error: BaseException | None) -> None:
            otel_context.detach(token)
            if error is not None:
                _failed(span, error)
            span.end()

        return finish


class Tracing:
    """One app's tracer provider, its request middleware and its core observer."""

    def __init__(self, cfg: TracingSettings) -> None:
        self.cfg = cfg
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": cfg.service_name}),
            sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)),
        )
        self.tracer = self.provider.get_tracer("agentmem")
        self.observer = SpanObserver(self.tracer)
        self.middleware = self._middleware()

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: the exporter runs while the app does, and what it holds is sent at stop."""
        if self.cfg.otlp_endpoint:
            exporter = OTLPSpanExporter(
                endpoint=traces_url(self.cfg.otlp_endpoint),
                headers={name: value.get_secret_value() for name, value in self.cfg.headers.items()},
                timeout=self.cfg.export_timeout_s,
            )
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
            log.info("tracing: spans go to %s", redact_url(traces_url(self.cfg.otlp_endpoint)))
        try:
            yield
        finally:
            # flushes the batch queue with blocking HTTP posts: off the event loop
            await asyncio.to_thread(self.provider.shutdown)

    def _middleware(self) -> Middleware:
        tracer = self.tracer

        @web.middleware
        async def trace_request(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = route_of(request)
            span = tracer.start_span(
                f"{request.method} {route}", context=_W3C.extract(request.headers), kind=SpanKind.SERVER,
                attributes={"http.request.method": request.method, "http.route": route},
            )
            with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
                try:
                    return await handler(request)
                finally:
                    status = request.get(STATUS, 500)  # as the request middleware inside this one saw it
                    span.set_attribute("http.response.status_code", status)
                    request_id = request.get(REQUEST_ID)
                    if request_id is not None:
                        span.set_attribute("agentmem.request_id", request_id)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))

        return trace_request

    def graphql_operation(self) -> Callable[[str, str | None, list[str]], None]:
        """A span for one GraphQL operation, current until the returned function is called with
        the operation's type, name and the error codes its caller was told."""
        span = self.tracer.start_span("graphql", kind=SpanKind.INTERNAL)
        token = otel_context.attach(trace.set_span_in_context(span))

        def finish(kind: str, name: str | None, codes: list[str]) -> None:
            otel_context.detach(token)
            span.update_name(f"{kind} {name or 'anonymous'}")
            span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            if codes:
                span.set_attribute("agentmem.error_codes", codes)
                span.set_status(Status(StatusCode.ERROR, codes[0]))
            span.end()

        return finish


def install(app: web.Application, cfg: TracingSettings) -> Tracing:
    """Call after the request middleware is in place: the span must enclose it, so its access
    log line carries the trace id too."""
    tracing = Tracing(cfg)
    app.middlewares.insert(0, tracing.middleware)
    app.cleanup_ctx.append(tracing.lifecycle)
    return tracing
