"""What every resolver sees as `info.context`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from strawberry.types import Info as _Info

from app.graphql.loaders import Loaders

from memory.access import ANONYMOUS_ADMIN, Principal
from memory.guarded import GuardedMemoryService

if TYPE_CHECKING:
    from memory.service import MemoryService


@dataclass
class Context:
    request: web.Request
    response: web.StreamResponse
    service: GuardedMemoryService
    loaders: Loaders
    # the connection_init payload of a WebSocket connection (set by Strawberry)
    connection_params: dict[str, Any] | None = None


Info = _Info[Context, None]


def build_context(
    request: web.Request, response: web.StreamResponse, service: MemoryService,
    principal: Principal = ANONYMOUS_ADMIN,
) -> Context:
    guarded = GuardedMemoryService(service, principal)
    websocket = isinstance(response, web.WebSocketResponse)
    return Context(
        request=request,
        response=response,
        service=guarded,
        loaders=Loaders(guarded, cache=not websocket),
    )
