"""The /graphql endpoint: GraphQL over HTTP (GET for queries, POST for everything) and over
WebSocket (graphql-transport-ws and legacy graphql-ws), plus GraphiQL served from local assets.

Requests Strawberry would answer with a bare text error (malformed JSON, wrong content type,
oversize body, wrong method) get an HTTP 4xx with a JSON body in the GraphQL error shape.

Authentication: an HTTP request is authenticated (and rate limited) before it runs; a
WebSocket in on_ws_connect, from its connection_init payload, and its credential is checked
again every `recheck_s` (a revoked or expired one closes the connection with 4403)."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Coroutine, Sequence, TypeGuard

from aiohttp import hdrs, web
from cross_web import HTTPException
from strawberry.aiohttp.views import GraphQLView
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from app.auth import AUTHENTICATOR_KEY, KEY_MANAGER_KEY
from app.auth.http import error_extensions
from app.graphql.context import Context, build_context
from app.keys import SERVICE_KEY
from app.settings import Settings
from memory.access import Principal
from memory.errors import AgentMemError

if TYPE_CHECKING:
    from app.graphql.schema import AgentMemSchema

log = logging.getLogger(__name__)

GRAPHIQL_DIR = Path(__file__).resolve().parent.parent / "static" / "graphiql"
ASSET_ROUTE = "/graphiql/assets"
# public name -> file inside node_modules (installed by `npm ci` in GRAPHIQL_DIR)
ASSETS = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphql-ws.js": "graphql-ws/umd/graphql-ws.min.js",
    "graphiql.js": "graphiql/dist/index.umd.js",
    "graphiql.css": "graphiql/dist/style.css",
}
INSTALL_HINT = "GraphiQL's assets are not installed: run `npm ci --prefix app/static/graphiql`."
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT",
          413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


# what the view keeps on the aiohttp request
PRINCIPAL = web.RequestKey("agentmem.principal", Principal)
TASKS: web.RequestKey[list[asyncio.Task[None]]] = web.RequestKey("agentmem.tasks")


def _background(request: web.Request, work: Coroutine[Any, Any, None]) -> None:
    """A task living as long as the request (a WebSocket's: its connection)."""
    request.setdefault(TASKS, []).append(asyncio.create_task(work))


def json_error(status: int, message: str, **headers: str) -> web.Response:
    body = {"errors": [{"message": message, "extensions": {"code": _CODES.get(status, "BAD_REQUEST")}}]}
    return web.json_response(body, status=status, headers=headers or None)


def asset_path(name: str) -> Path | None:
    relative = ASSETS.get(name)
    return GRAPHIQL_DIR / "node_modules" / relative if relative else None


async def graphiql_asset(request: web.Request) -> web.StreamResponse:
    path = asset_path(request.match_info["name"])
    if path is None:
        return json_error(404, "no such GraphiQL asset")
    if not path.is_file():
        return json_error(404, INSTALL_HINT)
    kind = "text/css" if path.suffix == ".css" else "text/javascript"
    headers = {"Cache-Control": "public, max-age=3600", "Content-Type": f"{kind}; charset=utf-8"}
    return web.FileResponse(path, headers=headers)


class AgentMemGraphQLView(GraphQLView[Context, None]):
    schema: AgentMemSchema  # replaced by a configuration reload (app/web.py)

    def __init__(
        self,
        schema: AgentMemSchema,
        *,
        max_body_bytes: int,
        graphiql: bool = True,
        keep_alive_s: float = 15.0,
        heartbeat_s: float = 30.0,
        connection_init_wait_s: float = 10.0,
        subscriptions_per_connection: int = 20,
        allowed_origins: Sequence[str] = (),
        recheck_s: float = 15.0,
        max_response_bytes: int = 10 * 2**20,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,  # legacy graphql-ws "ka" messages; graphql-transport-ws answers pings
            keep_alive_interval=keep_alive_s,
            connection_init_wait_timeout=timedelta(seconds=connection_init_wait_s),
            max_subscriptions_per_connection=subscriptions_per_connection,
            allowed_origins=allowed_origins,
        )
        self.max_body_bytes = max_body_bytes
        self.heartbeat_s = heartbeat_s
        self.connection_init_wait_s = connection_init_wait_s
        self.recheck_s = recheck_s
        self.max_response_bytes = max_response_bytes
        self._page: str | None = None

    @classmethod
    def from_settings(cls, schema: AgentMemSchema, settings: Settings) -> AgentMemGraphQLView:
        return cls(
            schema, max_body_bytes=settings.max_body_bytes, graphiql=settings.graphiql,
            connection_init_wait_s=settings.limits.connection_init_wait_s,
            subscriptions_per_connection=settings.limits.subscriptions_per_connection,
            keep_alive_s=settings.limits.keep_alive_s,
            allowed_origins=settings.cors_origins, recheck_s=settings.auth.websocket_recheck_s,
            max_response_bytes=settings.limits.max_response_bytes,
        )

    def encode_json(self, data: object) -> str:
        """Every answer (HTTP body or WebSocket message), refused past `max_response_bytes`."""
        encoded = json.dumps(data, separators=(",", ":"))
        if len(encoded) <= self.max_response_bytes:
            return encoded
        error = {"message": f"the answer would be larger than {self.max_response_bytes} bytes: ask for fewer "
                            "items (first/limit) or fewer fields", "extensions": {"code": "RESPONSE_TOO_LARGE"}}
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):  # a WebSocket message
            return json.dumps({**data, "payload": {"data": None, "errors": [error]}})
        return json.dumps({"data": None, "errors": [error]})

    async def get_context(self, request: web.Request, response: web.StreamResponse) -> Context:  # type: ignore[override]
        core, keys = request.app[SERVICE_KEY], request.app.get(KEY_MANAGER_KEY)
        if isinstance(response, web.WebSocketResponse):
            context = build_context(request, response, core, None, keys)  # authenticated in on_ws_connect
            if response.ws_protocol == GRAPHQL_WS_PROTOCOL:  # graphql-transport-ws has its own timeout
                _background(request, self._await_init(context, response))
            return context
        # None only while rendering GraphiQL (a page without data): see __call__
        return build_context(request, response, core, request.get(PRINCIPAL), keys)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        """Authenticates the connection_init payload; a refusal closes the connection (4403 on
        graphql-transport-ws; connection_error then 1011 on legacy graphql-ws)."""
        if context.principal is not None:
            # legacy graphql-ws accepts a second init; its running subscriptions would keep the
            # first credential's scope while the new one is rechecked: one credential per connection
            raise ConnectionRejectionError({
                "message": "this connection is already initialised: open a new one for another credential",
                "extensions": {"code": "BAD_REQUEST"},
            })
        authenticator = context.request.app[AUTHENTICATOR_KEY]
        try:
            principal = await authenticator.for_connection(context.connection_params, context.request)
        except AgentMemError as error:  # refused, limited, or the credential store is down
            raise ConnectionRejectionError({"message": error.public, "extensions": error_extensions(error)}) from None
        context.authenticate(principal)
        context.charge = functools.partial(authenticator.charge, principal)
        _background(context.request, self._recheck(context))
        return UNSET

    async def _await_init(self, context: Context, ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(self.connection_init_wait_s)
        if context.principal is None:
            await ws.close(code=4408, message=b"Connection initialisation timeout")

    async def _recheck(self, context: Context) -> None:
        """Closes the connection once its credential is revoked or expires."""
        authenticator = context.request.app[AUTHENTICATOR_KEY]
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                valid = await authenticator.still_valid(context.connection_params, context.request)
            except AgentMemError as exc:  # the store is down: keep the connection, check again later
                log.warning("could not recheck a WebSocket's credential: %s", exc)
                continue
            if not valid:
                await context.response.close(code=4403, message=b"credential revoked or expired")  # type: ignore[attr-defined]
                return

    async def create_websocket_response(self, request: web.Request, subprotocol: str | None) -> web.WebSocketResponse:
        # WebSocket-level pings find dead peers on either protocol
        ws = web.WebSocketResponse(
            protocols=[subprotocol] if subprotocol else [],
            heartbeat=self.heartbeat_s,
            max_msg_size=self.max_body_bytes,
        )
        await ws.prepare(request)
        return ws

    async def render_graphql_ide(self, request: web.Request) -> web.Response:
        if not all(asset_path(name).is_file() for name in ASSETS):  # type: ignore[union-attr]
            return web.Response(status=503, text=INSTALL_HINT)
        if self._page is None:
            template = (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")
            self._page = template.replace("{{assets}}", ASSET_ROUTE)
        page = self._page.replace("{{endpoint}}", json.dumps(request.path))
        return web.Response(text=page, content_type="text/html")

    def is_websocket_request(self, request: web.Request) -> TypeGuard[web.Request]:
        # asked two or three times a request: Strawberry's answer tries a whole handshake, which
        # for a request with no `Upgrade: websocket` (every POST) fails at that same first test,
        # building an HTTP error response on the way
        if request.headers.get(hdrs.UPGRADE, "").lower().strip() != "websocket":
            return False
        return super().is_websocket_request(request)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if not self.is_websocket_request(request):
            problem = await self._check_http(request)
            if problem is not None:
                return problem
            if not self.should_render_graphql_ide(self.request_adapter_class(request)):
                # Unauthenticated / RateLimited become 401 / 429 in auth_errors_middleware
                request[PRINCIPAL] = await request.app[AUTHENTICATOR_KEY].for_request(request)
        try:
            return await self.run(request=request)
        except HTTPException as exc:
            return json_error(exc.status_code, exc.reason)
        finally:
            for task in request.get(TASKS, ()):
                task.cancel()

    async def _check_http(self, request: web.Request) -> web.Response | None:
        if request.method not in ("GET", "POST"):
            return json_error(405, "use GET (queries) or POST", Allow="GET, POST")
        if request.method != "POST":
            return None
        content_type = parse_content_type(request.content_type or "")[0].lower()
        if content_type != "application/json":
            return json_error(415, "send the operation as JSON with Content-Type: application/json")
        if (request.content_length or 0) > self.max_body_bytes:
            return json_error(413, f"the request body is larger than {self.max_body_bytes} bytes")
        try:
            await request.read()  # cached; enforces the limit on chunked bodies too
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"the request body is larger than {self.max_body_bytes} bytes")
        return None
