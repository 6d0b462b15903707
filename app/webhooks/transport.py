"""The webhook HTTP client: one aiohttp session owned by the delivery worker, and the rule on
which targets a webhook may reach.

Only http and https. Unless `webhooks.allow_private_targets` is set, a target must resolve to
public addresses only: checked when the webhook is registered and again on every attempt, by
the resolver the connection itself uses (a name that re-resolves to 127.0.0.1 later, DNS
rebinding, gets no connection). Redirects are not followed: a 3xx is a failed attempt."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import DefaultResolver

from memory.errors import DeliveryError, InvalidInput

USER_AGENT = "AgentMem-Webhooks/1"
_READ_LIMIT = 64 * 1024  # the receiver's answer is read (to reuse the connection) but not kept


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def split_target(url: str) -> tuple[str, int]:
    """(host, port) of a webhook URL; InvalidInput unless it is http(s) with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL may not carry credentials; the signature authenticates us")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


class PublicResolver(DefaultResolver):
    """Resolves as usual, then keeps only public addresses: the connection can use no other."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = await super().resolve(host, port, family)
        allowed = [r for r in found if public(r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves to no public address")
        return allowed


class TargetRule:
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def check(self, url: str) -> None:
        """InvalidInput for a URL webhooks may not target (used at registration)."""
        host, port = split_target(url)
        if self.allow_private:
            return
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, ValueError) as exc:  # ValueError: not a valid host name (IDNA)
                raise InvalidInput(f"the webhook host {host!r} does not resolve: {exc}") from None
            addresses = [str(info[4][0]) for info in infos]
        if not addresses or not all(public(a) for a in addresses):
            raise InvalidInput(f"the webhook host {host!r} is a private, loopback or link-local address "
                               "(webhooks.allow_private_targets allows those)")


class AiohttpTransport:
    """memory.webhook_delivery.Transport over one aiohttp session (opened on first use, in the loop)."""

    def __init__(self, rule: TargetRule, timeout_s: float, connections: int) -> None:
        self._rule = rule
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver: Any = None if self._rule.allow_private else PublicResolver()
            connector = aiohttp.TCPConnector(limit=self._connections, resolver=resolver)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers={"User-Agent": USER_AGENT})
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            host, _ = split_target(url)
        except InvalidInput as exc:
            raise DeliveryError(str(exc)) from None
        literal = _literal(host)
        if literal is not None and not self._rule.allow_private and not public(literal):
            raise DeliveryError(f"{host} is not a public address")  # literals skip the resolver
        try:
            async with self._open().post(url, data=body, headers=dict(headers), allow_redirects=False) as resp:
                await resp.content.read(_READ_LIMIT)
                return resp.status
        except TimeoutError:
            raise DeliveryError(f"no answer within {self._timeout.total} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
