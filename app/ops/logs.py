"""Logging: JSON lines in production, readable lines in development, request context everywhere.

The request id, principal and operation live in contextvars set by the HTTP middleware and the
GraphQL extension, the trace and span ids in OpenTelemetry's current span (app/ops/tracing.py,
when tracing is on); a filter on our handler copies them onto every record, so any logger in any
module (the core's included) carries them without knowing about requests. Nothing here logs
memory text: callers put ids, counts and codes in `extra`, never content."""
from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from opentelemetry import trace

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
PRINCIPAL: ContextVar[str | None] = ContextVar("principal", default=None)
OPERATION: ContextVar[str | None] = ContextVar("operation", default=None)

# structured fields a record may carry (through `extra=`) and JSON lines show when present
FIELDS = ("request_id", "principal", "operation", "trace_id", "span_id",
          "method", "route", "status", "latency_ms", "error_code")
_CONTEXT = {"request_id": REQUEST_ID, "principal": PRINCIPAL, "operation": OPERATION}
_HANDLER_NAME = "agentmem"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        span = trace.get_current_span().get_span_context()
        if span.is_valid and getattr(record, "trace_id", None) is None:
            record.trace_id = format(span.trace_id, "032x")  # as W3C traceparent and OTLP backends write them
            record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{n}={getattr(record, n)}" for n in FIELDS[:3] if getattr(record, n, None))
        return f"{text} [{extras}]" if extras else text


def configure(level: str = "INFO", fmt: Literal["json", "text"] = "text", stream: TextIO | None = None) -> None:
    """(Re)configure the root logger with one handler of ours; safe to call again (SIGHUP)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    handler = ours[0] if ours else logging.StreamHandler(stream or sys.stderr)
    if not ours:
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    elif stream is not None and isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)
    # per-request lines come from our middleware (with latency and request id); aiohttp's own
    # access log would repeat them without either
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
