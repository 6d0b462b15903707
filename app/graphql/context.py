"""What every resolver sees as `info.context`.

An HTTP request's context is built for an authenticated principal. A WebSocket's context is
built at the upgrade, before connection_init has carried any credential: until the view's
on_ws_connect authenticates it, every use of `service` or `keys` raises Unauthenticated
(Strawberry also refuses operations before connection_ack)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web
from strawberry.types import Info as _Info

from app.auth.keys import KeyAdmin, KeyManager
from app.keys import WEBHOOKS_KEY
from app.graphql.loaders import Loaders
from memory.access import ANONYMOUS_ADMIN, Principal
from memory.errors import InvalidInput, Unauthenticated
from memory.guarded import GuardedMemoryService

if TYPE_CHECKING:
    from memory.service import MemoryService
    from memory.webhooks import WebhookRegistry

NOT_YET = "not authenticated: send the credential in connection_init"


@dataclass
class Context:
    request: web.Request
    response: web.StreamResponse
    core: MemoryService
    key_manager: KeyManager | None
    principal: Principal | None = None
    # the connection_init payload of a WebSocket connection (set by Strawberry)
    connection_params: dict[str, Any] | None = None
    # rate limit per operation on a WebSocket (HTTP requests are charged when authenticated)
    charge: Callable[[], Awaitable[None]] | None = None
    # an operation on an SSE stream: lives as long as the stream, like a WebSocket's
    streaming: bool = False
    _service: GuardedMemoryService | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def websocket(self) -> bool:
        return isinstance(self.response, web.WebSocketResponse)

    def authenticate(self, principal: Principal) -> None:
        self.principal = principal
        self._service = GuardedMemoryService(self.core, principal)
        self._loaders = None  # made when a field first needs one (most operations never do)

    @property
    def service(self) -> GuardedMemoryService:
        if self._service is None:
            raise Unauthenticated(NOT_YET)
        return self._service

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            # WebSocket and SSE contexts live as long as the connection: batch, but never serve stale data
            self._loaders = Loaders(self.service, cache=not (self.websocket or self.streaming))
        return self._loaders

    @property
    def keys(self) -> KeyAdmin:
        if self.principal is None:
            raise Unauthenticated(NOT_YET)
        if self.key_manager is None:  # only when the app was built without the auth context
            raise Unauthenticated("API keys are not available")
        return KeyAdmin(self.key_manager, self.principal)

    @property
    def caller(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated(NOT_YET)
        return self.principal

    @property
    def webhooks(self) -> WebhookRegistry:
        """The registry; its methods take `caller` (the access rule is the core's)."""
        registry = self.request.app.get(WEBHOOKS_KEY)
        if registry is None:
            raise InvalidInput("webhooks are switched off on this server (webhooks.enabled)")
        return registry


Info = _Info[Context, None]


def build_context(
    request: web.Request, response: web.StreamResponse, service: MemoryService,
    principal: Principal | None = ANONYMOUS_ADMIN, key_manager: KeyManager | None = None,
) -> Context:
    context = Context(request=request, response=response, core=service, key_manager=key_manager)
    if principal is not None:
        context.authenticate(principal)
    return context
