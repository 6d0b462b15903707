"""The app factory: create_app(settings) wires the service, the Redis fan-out and /graphql.

Resources open in cleanup contexts (one per resource) and close in reverse order."""
from __future__ import annotations

import logging
import uuid
from typing import AsyncIterator, Callable

from aiohttp import web

from app import bootstrap
from app.explorer import setup_explorer
from app.auth.wiring import install_auth
from app.ops.runtime import RELOADER_KEY
from app.graphql.schema import build_schema
from app.graphql.sse import setup_sse
from app.graphql.view import ASSET_ROUTE, AgentMemGraphQLView, graphiql_asset
from app.keys import FANOUT_KEY, SERVICE_KEY, SETTINGS_KEY
from app.ops import wiring
from app.ops.runtime import RUNTIME_KEY
from app.rest import setup_rest
from app.settings import Settings
from app.streams import install_streams
from app.webhooks.wiring import install_webhooks

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"


async def _service(app: web.Application) -> AsyncIterator[None]:
    async with bootstrap.service_context(app[SETTINGS_KEY], app[RUNTIME_KEY]) as service:
        app[SERVICE_KEY] = service
        app[RUNTIME_KEY].vitals.follow(service.events)  # /health's last_write_at
        yield


async def _fanout(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    assert settings.redis_url
    from app.fanout import RedisFanout  # loaded only with Redis: redis costs ~10 MiB of RSS

    replica = settings.replica_id or uuid.uuid4().hex
    fanout = RedisFanout(settings.redis_url, app[SERVICE_KEY].events, replica, settings.redis_channel)
    await fanout.start()
    app[FANOUT_KEY] = fanout
    log.info("events fan out through Redis as replica %s", fanout.replica_id)
    try:
        yield
    finally:
        await fanout.stop()


QUERY_LIMIT_KEYS = ("limits.max_depth", "limits.max_aliases", "limits.max_tokens", "limits.max_cost",
                    "limits.list_size", "introspection")


def create_app(settings: Settings, *, reload: Callable[[], Settings] | None = None) -> web.Application:
    """`reload` re-reads the configuration on SIGHUP (the CLI passes one; tests need not)."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    wiring.install(app, settings, reload)  # health, metrics, request ids; before the service opens
    app.cleanup_ctx.append(_service)
    install_auth(app, settings)  # after the service, whose migrations create the key tables
    if settings.redis_url:
        app.cleanup_ctx.append(_fanout)
    install_streams(app, settings)  # subscription caps and the replay log of /v1/events
    install_webhooks(app, settings)  # the registry (an event sink) and the delivery worker
    schema = build_schema(settings.limits, introspection=settings.introspection, max_page=settings.memory.max_limit)
    view = AgentMemGraphQLView.from_settings(schema, settings)

    def new_query_limits(new: Settings, old: Settings) -> None:
        # operations over HTTP and SSE from now on, and over WebSockets opened from now on, meet
        # the new limits; running operations and open WebSockets keep the schema they began with
        view.schema = build_schema(new.limits, introspection=new.introspection, max_page=new.memory.max_limit)

    for key in QUERY_LIMIT_KEYS:
        app[RELOADER_KEY].on_change(key, new_query_limits)
    app.router.add_route("*", GRAPHQL_PATH, view)
    setup_sse(app, view, settings)  # GraphQL over SSE at /graphql/stream
    app.router.add_get(ASSET_ROUTE + "/{name}", graphiql_asset)
    setup_rest(app)  # mem0-compatible /v1 REST, /openapi.json and /docs
    if settings.explorer.enabled:
        setup_explorer(app)  # the browser UI at /explorer/ (it calls the API above with a key)
    return app
