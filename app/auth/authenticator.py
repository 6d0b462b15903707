"""The authenticator used unless development mode is configured: API keys, our own access
tokens and the identity provider's JWTs, with the rate limits applied on the way in.

Where credentials come from:
- HTTP: `Authorization: Bearer <key or JWT>`, mem0's `Authorization: Token <key>`, or `X-API-Key`.
- WebSocket: the connection_init payload (`Authorization`/`authorization` with or without a
  scheme, `token`, `apiKey`/`api_key`, `X-API-Key`, or those inside `headers`), else the
  upgrade request's headers (non-browser clients)."""
from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from aiohttp import web

from app.auth.keys import KEY_PREFIX, KeyManager, key_id
from app.auth.ratelimit import Limits
from app.auth.tokens import TokenService
from memory.access import Principal
from memory.errors import Unauthenticated

if TYPE_CHECKING:
    from app.auth.idp import IdpVerifier

SCHEMES = ("bearer", "token")
PARAM_NAMES = ("authorization", "token", "apikey", "api_key", "x-api-key", "accesstoken", "access_token")
MISSING = "no credential: send Authorization: Bearer <API key or token>, or X-API-Key"
MAX_CREDENTIAL = 8192


def _strip_scheme(value: str) -> str:
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if rest and scheme.lower() in SCHEMES else value.strip()


def credential_from_headers(headers: Mapping[str, str]) -> str | None:
    header = headers.get("Authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() not in SCHEMES or not value.strip():
            raise Unauthenticated("unsupported Authorization scheme: use Bearer (or Token)")
        return value.strip()
    key = headers.get("X-API-Key")
    return key.strip() if key else None


def credential_from_params(params: Mapping[str, Any] | None) -> str | None:
    if not params:
        return None
    lowered = {str(k).lower(): v for k, v in params.items()}
    for name in PARAM_NAMES:
        value = lowered.get(name)
        if isinstance(value, str) and value.strip():
            return _strip_scheme(value)
    headers = lowered.get("headers")
    return credential_from_params(headers) if isinstance(headers, Mapping) else None


_FORWARDED_FOR = re.compile(r'(?i)(?:^|[;,\s])for="?([^";,]+)"?')


def _host(hop: str) -> str:
    """An address from a forwarding header: brackets and port removed ("[::1]:80", "1.2.3.4:80")."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:].split("]", 1)[0]
    return hop.rsplit(":", 1)[0] if hop.count(":") == 1 else hop


class ClientAddress:
    """Who the client is, for the failed-authentication limiter: the TCP peer; when the peer is
    a trusted proxy, the nearest address it reports (`Forwarded: for=`, else `X-Forwarded-For`)
    that is not itself a trusted proxy. Untrusted peers' forwarding headers are ignored: anyone
    can send them."""

    def __init__(self, trusted_proxies: Sequence[str] = ()) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def __call__(self, request: web.Request) -> str:
        peer = request.remote or "unknown"
        if not self._trusted(peer):
            return peer
        forwarded = request.headers.get("Forwarded")
        if forwarded:
            hops = [_host(h) for h in _FORWARDED_FOR.findall(forwarded)]
        else:
            hops = [_host(h) for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        for hop in reversed(hops):  # the rightmost hops were added by our own proxies
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer


client_address = ClientAddress()  # no trusted proxy: the TCP peer


def credential_label(text: str | None) -> str:
    """What a failed attempt presented, without its secret: failures are counted per address
    and credential, so one client's bad key does not lock out others behind the same proxy."""
    if not text:
        return "none"
    if (id := key_id(text)) is not None:
        return "key:" + id
    if text.startswith("amr_"):
        return "refresh:" + text[4:36]
    return "jwt" if text.count(".") == 2 else "other"


class CredentialAuthenticator:
    def __init__(self, keys: KeyManager, tokens: TokenService, idp: IdpVerifier | None, limits: Limits,
                 address: Callable[[web.Request], str] = client_address) -> None:
        self._keys = keys
        self._tokens = tokens
        self._idp = idp
        self._limits = limits
        self._address = address

    async def for_request(self, request: web.Request) -> Principal:
        principal = await self._checked(lambda: credential_from_headers(request.headers), self._address(request))
        await self._limits.charge(principal)
        return principal

    async def for_connection(self, params: Mapping[str, Any] | None, request: web.Request) -> Principal:
        def credential() -> str | None:
            return credential_from_params(params) or credential_from_headers(request.headers)

        principal = await self._checked(credential, self._address(request))
        await self._limits.charge(principal)
        return principal

    async def still_valid(self, params: Mapping[str, Any] | None, request: web.Request) -> bool:
        """Whether an open connection's credential still holds (not revoked, not expired)."""
        try:
            await self.verify(credential_from_params(params) or credential_from_headers(request.headers))
        except Unauthenticated:
            return False
        return True

    async def charge(self, principal: Principal) -> None:
        """One more operation on an open connection."""
        await self._limits.charge(principal)

    async def verify(self, credential: str | None) -> Principal:
        """The principal a credential stands for; Unauthenticated otherwise."""
        if not credential:
            raise Unauthenticated(MISSING)
        if len(credential) > MAX_CREDENTIAL:
            raise Unauthenticated("credential too long")
        if credential.startswith(KEY_PREFIX):
            return (await self._keys.authenticate(credential)).principal()
        if credential.count(".") == 2:
            return await self._verify_jwt(credential)
        raise Unauthenticated("not an API key or a JWT")

    async def _checked(self, credential: Callable[[], str | None], address: str) -> Principal:
        """The credential is checked first, so a valid one always passes; a failure is counted
        against (address, credential label) and answered RateLimited once that pair failed too often."""
        text: str | None = None
        try:
            text = credential()
            return await self.verify(text)
        except Unauthenticated:
            await self._limits.failed(address, credential_label(text))
            raise

    async def _verify_jwt(self, token: str) -> Principal:
        # The unverified issuer only picks which key checks the token; a token claiming our
        # issuer is checked with our secret (HS256 only), any other with the IdP's key.
        import jwt  # loaded by the first token, not at start (app/auth/tokens.py)

        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        if issuer == self._tokens.issuer:
            return await self._tokens.verify(token)
        if self._idp is not None:
            return await self._idp.verify(token)
        raise Unauthenticated("invalid or expired token")
