"""/openapi.json and the /docs page (Swagger UI from the npm registry, installed by `npm ci` in
APIDOCS_DIR and served from here: the page works with no internet). Neither shows any memory,
so both are public."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

from app.rest import events
from app.rest.events import EVENTS_PATHS, EventsQuery
from app.rest.openapi import add_event_stream, document
from app.rest.routes import ROUTES

APIDOCS_DIR = Path(__file__).resolve().parent.parent / "static" / "apidocs"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
ASSET_ROUTE = "/docs/assets"
# public name -> file inside node_modules
ASSETS = {
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
INSTALL_HINT = "The API docs' assets are not installed: run `npm ci --ignore-scripts --prefix app/static/apidocs`."


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    doc = document(ROUTES)
    add_event_stream(doc, EVENTS_PATHS, "stream_events", "Memory events as Server-Sent Events",
                     events.__doc__ or "", EventsQuery)
    return doc


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    return json.dumps(openapi_document(), separators=(",", ":"))


def asset_path(name: str) -> Path | None:
    relative = ASSETS.get(name)
    return APIDOCS_DIR / "node_modules" / relative if relative else None


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=_openapi_text(), content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    if not all(path.is_file() for path in map(asset_path, ASSETS) if path is not None):
        return web.Response(status=503, text=INSTALL_HINT)
    template = (APIDOCS_DIR / "index.html").read_text(encoding="utf-8")
    page = template.replace("{{assets}}", ASSET_ROUTE).replace("{{spec}}", json.dumps(OPENAPI_PATH))
    return web.Response(text=page, content_type="text/html")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    path = asset_path(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound(text="no such asset")
    if not path.is_file():
        raise web.HTTPNotFound(text=INSTALL_HINT)
    kind = "text/css" if path.suffix == ".css" else "text/javascript"
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600",
                                           "Content-Type": f"{kind}; charset=utf-8"})
