"""The app factory: create_app(settings) wires the service, the Redis fan-out and /graphql.

Resources open in cleanup contexts (one per resource) and close in reverse order."""
from __future__ import annotations

import logging
import uuid
from typing import AsyncIterator

from aiohttp import web

from app import bootstrap
from app.fanout import RedisFanout
from app.auth import AUTHENTICATOR_KEY, OpenAuthenticator
from app.graphql.schema import build_schema
from app.graphql.view import ASSET_ROUTE, AgentMemGraphQLView, graphiql_asset
from app.keys import FANOUT_KEY, SERVICE_KEY, SETTINGS_KEY
from app.settings import Settings

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"


async def _service(app: web.Application) -> AsyncIterator[None]:
    async with bootstrap.service_context(app[SETTINGS_KEY]) as service:
        app[SERVICE_KEY] = service
        yield


async def _fanout(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    assert settings.redis_url
    replica = settings.replica_id or uuid.uuid4().hex
    fanout = RedisFanout(settings.redis_url, app[SERVICE_KEY].events, replica, settings.redis_channel)
    await fanout.start()
    app[FANOUT_KEY] = fanout
    log.info("events fan out through Redis as replica %s", fanout.replica_id)
    try:
        yield
    finally:
        await fanout.stop()


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "counts": await request.app[SERVICE_KEY].counts()})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[AUTHENTICATOR_KEY] = OpenAuthenticator()
    app.cleanup_ctx.append(_service)
    if settings.redis_url:
        app.cleanup_ctx.append(_fanout)
    view = AgentMemGraphQLView(build_schema(), max_body_bytes=settings.max_body_bytes, graphiql=settings.graphiql)
    app.router.add_route("*", GRAPHQL_PATH, view)
    app.router.add_get(ASSET_ROUTE + "/{name}", graphiql_asset)
    app.router.add_get("/health", _health)
    return app
