"""Authentication outside GraphQL results: HTTP 401/429 answers, CORS, and the token endpoint.

`auth_errors_middleware` is the one place where Unauthenticated and RateLimited raised by any
handler (GraphQL view, REST) become HTTP answers: 401 with `WWW-Authenticate`, 429 with
`Retry-After`, and a body in the GraphQL error shape with `extensions.code` (and
`extensions.retryAfter`); StoreUnavailable (the credential store is down) becomes 503."""
from __future__ import annotations

import math
from typing import Any, Awaitable, Callable, Sequence

from aiohttp import web
from strawberry.http.websocket_origin import normalize_origin

from app.auth import CLIENT_ADDRESS_KEY, LIMITS_KEY, TOKENS_KEY
from app.auth.authenticator import credential_from_headers, credential_label
from memory.errors import AgentMemError, RateLimited, StoreUnavailable, Unauthenticated

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_extensions(error: AgentMemError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": error.code}
    if isinstance(error, RateLimited):
        extensions["retryAfter"] = error.retry_after
    return extensions


def error_response(error: Unauthenticated | RateLimited | StoreUnavailable) -> web.Response:
    body = {"errors": [{"message": error.public, "extensions": error_extensions(error)}]}
    if isinstance(error, RateLimited):
        # Retry-After counts whole seconds (RFC 9110): rounded up, never 0
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
        return web.json_response(body, status=429, headers=headers)
    if isinstance(error, StoreUnavailable):  # e.g. the credential store, while authenticating
        return web.json_response(body, status=503, headers={"Retry-After": "1"})
    return web.json_response(body, status=401, headers={"WWW-Authenticate": 'Bearer realm="agentmem"'})


@web.middleware
async def auth_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (Unauthenticated, RateLimited, StoreUnavailable) as error:
        return error_response(error)


# mem0's clients also send Mem0-User-ID and X-Mem0-Client on the REST routes
# ...and SSE clients the stream token and Last-Event-ID
CORS_HEADERS = ("Authorization, Content-Type, X-API-Key, X-Request-ID, Mem0-User-ID, X-Mem0-Client, "
                "X-GraphQL-Event-Stream-Token, Last-Event-ID")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"


def cors_middleware(origins: Sequence[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Lets browsers on `origins` (["*"]: any) call the API. No cookies are involved (credentials
    travel in headers), so no Allow-Credentials."""
    policy: dict[str, Any] = {}

    def configure(new_origins: Sequence[str]) -> None:
        policy["any"] = "*" in new_origins
        policy["allowed"] = frozenset(normalize_origin(o) for o in new_origins if o != "*")

    configure(origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origin or not (policy["any"] or normalize_origin(origin) in policy["allowed"]):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204, headers={
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": "600",
            })
        else:
            response = await handler(request)
        if not response.prepared:  # a WebSocket has sent its headers already
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-Request-ID"
            response.headers.add("Vary", "Origin")
        return response

    cors.configure = configure  # type: ignore[attr-defined]  # SIGHUP reload of cors_origins
    return cors


def _oauth_error(status: int, error: str, description: str, **headers: str) -> web.Response:
    """RFC 6749 §5.2."""
    return web.json_response({"error": error, "error_description": description}, status=status,
                             headers={**NO_STORE, **headers})


async def token_endpoint(request: web.Request) -> web.StreamResponse:
    """POST /auth/token, OAuth 2 style: `grant_type=api_key` (the key in `api_key`, or in
    Authorization / X-API-Key) gives a new token pair; `grant_type=refresh_token` rotates one.
    JSON or form bodies. Requests are rate limited per client address (each one hashes a secret
    and writes a row); failures count like any failed login."""
    tokens, limits = request.app[TOKENS_KEY], request.app[LIMITS_KEY]
    address = request.app[CLIENT_ADDRESS_KEY](request)
    await limits.token_request(address)  # RateLimited -> 429 by the middleware
    form = await _form(request)
    if form is None:
        return _oauth_error(400, "invalid_request", "send a JSON object or a form")
    grant = form.get("grant_type")
    presented = ""
    try:
        if grant == "api_key":
            presented = form.get("api_key") or credential_from_headers(request.headers) or ""
            pair = await tokens.exchange(presented)
        elif grant == "refresh_token":
            presented = form.get("refresh_token") or ""
            pair = await tokens.refresh(presented)
        else:
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be api_key or refresh_token")
    except Unauthenticated as error:
        await limits.failed(address, credential_label(presented))
        if grant == "api_key":
            return _oauth_error(401, "invalid_client", str(error), **{"WWW-Authenticate": "Bearer"})
        return _oauth_error(400, "invalid_grant", str(error))
    return web.json_response(pair.as_json(), headers=NO_STORE)


async def _form(request: web.Request) -> dict[str, str] | None:
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return None
        return {k: v for k, v in body.items() if isinstance(v, str)} if isinstance(body, dict) else None
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    return None
