"""The /graphql endpoint: GraphQL over HTTP (GET for queries, POST for everything) and over
WebSocket (graphql-transport-ws and legacy graphql-ws), plus GraphiQL served from local assets.

Requests Strawberry would answer with a bare text error (malformed JSON, wrong content type,
oversize body, wrong method) get an HTTP 4xx with a JSON body in the GraphQL error shape."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from cross_web import HTTPException
from strawberry.aiohttp.views import GraphQLView
from strawberry.http.parse_content_type import parse_content_type

from app.auth import AUTHENTICATOR_KEY
from app.graphql.context import Context, build_context
from app.keys import SERVICE_KEY

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
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
          415: "UNSUPPORTED_MEDIA_TYPE"}


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
    def __init__(
        self,
        schema: Any,
        *,
        max_body_bytes: int,
        graphiql: bool = True,
        keep_alive_s: float = 15.0,
        heartbeat_s: float = 30.0,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,  # legacy graphql-ws "ka" messages; graphql-transport-ws answers pings
            keep_alive_interval=keep_alive_s,
        )
        self.max_body_bytes = max_body_bytes
        self.heartbeat_s = heartbeat_s
        self._page: str | None = None

    async def get_context(self, request: web.Request, response: web.StreamResponse) -> Context:  # type: ignore[override]
        authenticator = request.app[AUTHENTICATOR_KEY]
        if isinstance(response, web.WebSocketResponse):
            principal = await authenticator.for_connection(None, request)
        else:
            principal = await authenticator.for_request(request)
        return build_context(request, response, request.app[SERVICE_KEY], principal)

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

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if not self.is_websocket_request(request):
            problem = await self._check_http(request)
            if problem is not None:
                return problem
        try:
            return await self.run(request=request)
        except HTTPException as exc:
            return json_error(exc.status_code, exc.reason)

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
