"""Authentication at the edge: turning a request or a WebSocket's connection_init payload into
a core `Principal`. Every edge (GraphQL over HTTP and WebSocket, REST) asks the one
authenticator stored under AUTHENTICATOR_KEY; what a principal may do is decided in the core
(memory.access / memory.guarded), not here."""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from aiohttp import web

from memory.access import ANONYMOUS_ADMIN, Principal


class Authenticator(Protocol):
    async def for_request(self, request: web.Request) -> Principal:
        """Raises memory.errors.Unauthenticated (or RateLimited)."""
        ...

    async def for_connection(self, params: Mapping[str, Any] | None, request: web.Request) -> Principal:
        """For a WebSocket, from its connection_init payload (plus the upgrade request)."""
        ...


class OpenAuthenticator:
    """Development mode only (explicit configuration): every caller is an admin."""

    async def for_request(self, request: web.Request) -> Principal:
        return ANONYMOUS_ADMIN

    async def for_connection(self, params: Mapping[str, Any] | None, request: web.Request) -> Principal:
        return ANONYMOUS_ADMIN


AUTHENTICATOR_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator")
