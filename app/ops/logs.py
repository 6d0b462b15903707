"""Logging: JSON lines in production, readable lines in development, request context everywhere.

The request id, principal and operation live in contextvars set by the HTTP middleware and the
GraphQL extension, the trace and span ids in OpenTelemetry's current span (app/ops/tracing.py,
when tracing is on); a filter on our handler copies them onto every record, so any logger in any
module (the core's included) carries them without knowing about requests. Nothing here logs
memory text: callers put ids, counts and codes in `extra`, never content."""
from __future__ import annotations

import gzip
import json
import logging
import logging.handlers
import os
import shutil
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:
    from app.settings import LogSettings

from opentelemetry import trace

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
PRINCIPAL: ContextVar[str | None] = ContextVar("principal", default=None)
OPERATION: ContextVar[str | None] = ContextVar("operation", default=None)

# structured fields a record may carry (through `extra=`) and JSON lines show when present
FIELDS = ("request_id", "principal", "operation", "trace_id", "span_id",
          "method", "route", "status", "latency_ms", "error_code")
_CONTEXT = {"request_id": REQUEST_ID, "principal": PRINCIPAL, "operation": OPERATION}
_HANDLER_NAME = "agentmem"
_FILE_HANDLER_NAME = "agentmem-file"


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


def configure(level: str = "INFO", fmt: Literal["json", "text"] = "text", stream: TextIO | None = None,
              file: LogSettings | None = None) -> None:
    """(Re)configure the root logger with our handlers (stderr, and `file.file` when set); safe
    to call again (SIGHUP). A file handler, once open, keeps its path until restart."""
    root = logging.getLogger()
    ours = {h.get_name(): h for h in root.handlers if h.get_name() in (_HANDLER_NAME, _FILE_HANDLER_NAME)}
    handler = ours.get(_HANDLER_NAME)
    if handler is None:
        handler = _adopt(root, logging.StreamHandler(stream or sys.stderr), _HANDLER_NAME)
    elif stream is not None and isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)
    handlers = [handler]
    if file is not None and file.file is not None:
        handlers.append(ours.get(_FILE_HANDLER_NAME) or _adopt(root, file_handler(file), _FILE_HANDLER_NAME))
    elif _FILE_HANDLER_NAME in ours:
        handlers.append(ours[_FILE_HANDLER_NAME])
    for each in handlers:
        each.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)
    # per-request lines come from our middleware (with latency and request id); aiohttp's own
    # access log would repeat them without either
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _adopt(root: logging.Logger, handler: logging.Handler, name: str) -> logging.Handler:
    handler.set_name(name)
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    return handler


def file_handler(cfg: LogSettings) -> logging.FileHandler:
    """A file handler rotating by size or by time, keeping `backup_count` old files, gzipped
    when `compress` is set."""
    assert cfg.file is not None
    cfg.file.parent.mkdir(parents=True, exist_ok=True)
    handler: logging.handlers.BaseRotatingHandler | logging.FileHandler
    if cfg.rotate_when is not None:
        handler = logging.handlers.TimedRotatingFileHandler(
            cfg.file, when=cfg.rotate_when, backupCount=cfg.backup_count, utc=cfg.rotate_utc, encoding="utf-8")
    elif cfg.rotate_bytes:
        handler = logging.handlers.RotatingFileHandler(
            cfg.file, maxBytes=cfg.rotate_bytes, backupCount=cfg.backup_count, encoding="utf-8")
    else:
        return logging.FileHandler(cfg.file, encoding="utf-8")
    if cfg.compress:
        handler.namer = _gz_name
        handler.rotator = _gzip_into
    return handler


def _gz_name(default: str) -> str:
    return default + ".gz"


def _gzip_into(source: str, dest: str) -> None:
    # compressed beside the target first, then renamed: a crash never leaves a half-written .gz
    partial = dest + ".partial"
    with open(source, "rb") as raw, gzip.open(partial, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    os.replace(partial, dest)
    os.remove(source)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
