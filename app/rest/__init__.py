"""The REST facade: mem0-compatible /v1 (and /v2, /v3) memory endpoints over the same core,
principals and errors as GraphQL, plus /openapi.json and /docs.

`setup_rest(app)` is the only thing the app factory calls."""
from __future__ import annotations

from aiohttp import web

from app.rest.dispatch import endpoint
from app.rest.docs import (
    ASSET_ROUTE,
    DOCS_PATH,
    OPENAPI_PATH,
    docs_asset,
    docs_page,
    openapi_json,
)
from app.rest.errors import rest_errors
from app.rest.events import setup_events
from app.rest.routes import ROUTES

__all__ = ["setup_rest"]


def setup_rest(app: web.Application) -> None:
    app.middlewares.append(rest_errors)
    for route in ROUTES:
        handler = endpoint(route)
        for path in route.paths:
            app.router.add_route(route.method, path, handler)
    setup_events(app)  # GET /v1/events: a Server-Sent Events stream, outside the JSON route table
    app.router.add_get(OPENAPI_PATH, openapi_json)
    app.router.add_get(DOCS_PATH, docs_page)
    app.router.add_get(ASSET_ROUTE + "/{name}", docs_asset)
