"""The one place where REST failures become HTTP responses: `{"detail": ..., "code": ...}`.

The core's error tree maps by its `.code`; aiohttp's own errors (no such route, wrong method,
body too large) and invalid request bodies get the same JSON shape, so a client never has to
parse text. Anything unexpected is logged with its traceback and answered as a bare 500."""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from memory.errors import AgentMemError, BatchRejected, RateLimited, Unauthenticated

log = logging.getLogger("app.rest")

# mem0 clients talk to these prefixes; the middleware leaves every other path (GraphQL...) alone
REST_PREFIXES = ("/v1/", "/v2/", "/v3/", "/api/v1/")

STATUS_BY_CODE = {
    "BAD_USER_INPUT": 400,
    "VISION_NOT_CONFIGURED": 400,  # an image was sent, and this server has no vision model to describe it
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "IMMUTABLE": 409,  # the memory's state (immutable) forbids the change; mem0's client reads 409 as invalid
    "RATE_LIMITED": 429,
    "LIMIT_EXCEEDED": 429,  # too many held open at once (subscriptions, event streams)
    "PROVIDER_ERROR": 502,  # an upstream embedding/LLM provider failed, not the client
    "SERVICE_UNAVAILABLE": 503,
}
CODE_BY_STATUS = {
    400: "BAD_USER_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED", 502: "PROVIDER_ERROR", 503: "SERVICE_UNAVAILABLE",
}
INTERNAL = "INTERNAL_SERVER_ERROR"


class RequestInvalid(Exception):
    """The request itself is unusable (bad JSON, wrong content type...): a 4xx with this status."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


def error_response(status: int, detail: str, code: str | None = None, *,
                   errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"detail": detail, "code": code or CODE_BY_STATUS.get(status, INTERNAL)}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers)


def from_core(exc: AgentMemError) -> web.Response:
    status = STATUS_BY_CODE.get(exc.code)
    if status is None:
        log.error("core error without an HTTP status: %r", exc, exc_info=exc)
        return error_response(500, "Internal server error", INTERNAL)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="agentmem", Token realm="agentmem"'
    if exc.masked:
        log.warning("%s (shown to the client as %r)", exc, exc.public)
    errors = None
    if isinstance(exc, BatchRejected):
        errors = [{"loc": ["body", "memories", i.index], "msg": i.message, "code": i.code, "memory_id": i.memory_id}
                  for i in exc.items]
    return error_response(status, exc.public, exc.code, errors=errors, headers=headers or None)


def from_validation(exc: ValidationError, where: str) -> RequestInvalid:
    """Pydantic's errors as a readable sentence plus a list (loc, msg) for programs."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [where, *err["loc"]]
        errors.append({"loc": loc, "msg": err["msg"]})
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return RequestInvalid(400, f"invalid request: {text}", errors)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def rest_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(REST_PREFIXES):
        return await handler(request)
    try:
        return await handler(request)
    except AgentMemError as exc:
        return from_core(exc)
    except RequestInvalid as exc:
        return error_response(exc.status, exc.detail, errors=exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.reason if exc.status != 405 else f"{request.method} is not allowed here"
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, detail, headers=headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "Internal server error", INTERNAL)
