"""Authentication at the edge: turning a request or a WebSocket's connection_init payload into
a core `Principal`. Every edge (GraphQL over HTTP and WebSocket, REST) asks the one
authenticator stored under AUTHENTICATOR_KEY; what a principal may do is decided in the core
(memory.access / memory.guarded), not here.

`for_request` also charges the principal's rate limit, so an edge that calls it gets the limit
too; its errors (Unauthenticated, RateLimited) become HTTP 401 / 429 through
app.auth.http.auth_errors_middleware when the edge does not map them itself."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from aiohttp import web

from memory.access import ANONYMOUS_ADMIN, Principal

if TYPE_CHECKING:
    from app.auth.jwks import JwksCache
    from app.auth.keys import KeyManager
    from app.auth.ratelimit import Limits
    from app.auth.tokens import TokenService


class Authenticator(Protocol):
    async def for_request(self, request: web.Request) -> Principal:
        """Raises memory.errors.Unauthenticated (or RateLimited)."""
        ...

    async def for_connection(self, params: Mapping[str, Any] | None, request: web.Request) -> Principal:
        """For a WebSocket, from its connection_init payload (plus the upgrade request)."""
        ...

    async def still_valid(self, params: Mapping[str, Any] | None, request: web.Request) -> bool:
        """Whether an open WebSocket's credential still holds (checked periodically)."""
        ...

    async def charge(self, principal: Principal) -> None:
        """Rate limit one operation on an open WebSocket (RateLimited when over)."""
        ...


class OpenAuthenticator:
    """Development mode only (explicit configuration): every caller is an admin, no limits."""

    async def for_request(self, request: web.Request) -> Principal:
        return ANONYMOUS_ADMIN

    async def for_connection(self, params: Mapping[str, Any] | None, request: web.Request) -> Principal:
        return ANONYMOUS_ADMIN

    async def still_valid(self, params: Mapping[str, Any] | None, request: web.Request) -> bool:
        return True

    async def charge(self, principal: Principal) -> None:
        return None


AUTHENTICATOR_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator")
KEY_MANAGER_KEY: web.AppKey["KeyManager"] = web.AppKey("key_manager")
TOKENS_KEY: web.AppKey["TokenService"] = web.AppKey("tokens")
LIMITS_KEY: web.AppKey["Limits"] = web.AppKey("limits")
# request -> the client's address (the TCP peer, or what a trusted proxy reports)
CLIENT_ADDRESS_KEY: web.AppKey[Callable[[web.Request], str]] = web.AppKey("client_address")
# the identity provider's key set, when auth.idp uses a JWKS (health report, tests)
JWKS_KEY: web.AppKey["JwksCache"] = web.AppKey("jwks")
