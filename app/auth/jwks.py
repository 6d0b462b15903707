"""The identity provider's signing keys, fetched from its JSON Web Key Set and cached.

The set is fetched with aiohttp (never blocking the loop, each request bounded by
`jwks_timeout_s`), from `jwks_url` or from the `jwks_uri` that the provider's OpenID discovery
document names. It is kept as long as the provider's Cache-Control max-age / Expires say,
clamped to [jwks_cache_min_s, jwks_cache_max_s]. A token naming an unknown `kid` fetches the set
again (key rotation), at most once per `jwks_refresh_interval_s`; concurrent callers share one
fetch. While the provider cannot be reached, the last set keeps serving for
`jwks_stale_if_error_s` past its expiry."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import aiohttp
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from app.settings import IdpSettings
from memory.concurrency import SharedCalls
from memory.errors import StoreUnavailable, Unauthenticated

log = logging.getLogger(__name__)

RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_CURVE_ALGORITHMS = {"P-256": ("ES256",), "P-384": ("ES384",), "P-521": ("ES512",)}
MAX_DOCUMENT_BYTES = 1 << 20
DISCOVERY_PATH = "/.well-known/openid-configuration"


class JwksError(Exception):
    """The provider's discovery document or key set could not be fetched or used."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str | None
    key: Any  # a cryptography public key
    algorithms: tuple[str, ...]


def key_algorithms(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The algorithms a JWK may verify: its key type's family (an EC key: its curve's one), and
    only its own `alg` when it states one. Symmetric (`oct`) keys get none: a public key set
    never holds an HMAC secret, so HS* is never accepted from it."""
    if jwk.get("kty") == "RSA":
        family: tuple[str, ...] = RSA_ALGORITHMS
    elif jwk.get("kty") == "EC":
        family = EC_CURVE_ALGORITHMS.get(str(jwk.get("crv")), ())
    else:
        return ()
    stated = jwk.get("alg")
    if stated is None:
        return family
    return (stated,) if stated in family else ()


def signing_keys(document: Any, allowed: Sequence[str] | None = None) -> list[SigningKey]:
    """The usable signature keys of a JWKS document; keys for encryption, of other types or
    that do not parse are left out (a provider may publish such keys beside its signing keys)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JSON Web Key Set (no `keys` list)")
    found = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        if "key_ops" in jwk and "verify" not in (jwk["key_ops"] or []):
            continue
        algorithms = tuple(a for a in key_algorithms(jwk) if allowed is None or a in allowed)
        if not algorithms:
            continue
        try:
            key = PyJWK(jwk, algorithms[0]).key
        except (PyJWTError, ValueError, TypeError) as exc:  # PyJWKError, InvalidKeyError...
            log.warning("identity provider key %r left out: %s", jwk.get("kid"), exc)
            continue
        kid = jwk.get("kid")
        found.append(SigningKey(kid if isinstance(kid, str) else None, key, algorithms))
    return found


def _cache_directives(value: str) -> dict[str, str]:
    directives = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        directives[name.strip().lower()] = arg.strip().strip('"')
    return directives


def cache_lifetime(headers: Mapping[str, str], default_s: float, min_s: float, max_s: float,
                   now: datetime | None = None) -> float:
    """Seconds a response may be reused (RFC 9111: max-age wins over Expires, minus Age; an
    unparseable Expires means already stale), clamped to [min_s, max_s]."""
    directives = _cache_directives(headers.get("Cache-Control", ""))
    seconds: float
    if "no-store" in directives or "no-cache" in directives:
        seconds = 0.0
    elif "max-age" in directives:
        try:
            seconds = float(int(directives["max-age"])) - _age(headers)
        except ValueError:
            seconds = 0.0
    elif "Expires" in headers:
        try:
            expires = parsedate_to_datetime(headers["Expires"])
            base = parsedate_to_datetime(headers["Date"]) if "Date" in headers else now or datetime.now(timezone.utc)
            seconds = (expires - base).total_seconds()
        except (TypeError, ValueError):
            seconds = 0.0
    else:
        seconds = default_s
    return min(max(seconds, min_s), max_s)


def _age(headers: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(int(headers.get("Age", "0"))))
    except ValueError:
        return 0.0


def _checked_url(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise JwksError(f"{what} is not a URL")
    parts = urlsplit(url)
    loopback = (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)) or not parts.hostname:
        raise JwksError(f"{what} {url!r} is not an https:// URL")
    return url


class JwksCache:
    """The current key set, fetched when absent or expired and when a token names an unknown key."""

    def __init__(self, cfg: IdpSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._cfg = cfg
        self.clock = clock  # replaceable, so tests can move time instead of waiting
        self._keys: list[SigningKey] | None = None
        self._expires = 0.0
        self._fetched = 0.0
        self._last_attempt = float("-inf")
        self._last_error: str | None = None
        self._jwks_uri = cfg.jwks_url
        self._fetches: SharedCalls[None, list[SigningKey]] = SharedCalls("idp-jwks-fetch")  # one at a time
        self._session: aiohttp.ClientSession | None = None

    async def key(self, kid: str | None, alg: str) -> SigningKey:
        """The key that verifies a token with this header; Unauthenticated when none matches
        (after one rate-limited refresh for a kid not in the set)."""
        keys = await self._current()
        found = _pick(keys, kid, alg)
        if found is None and (self._fetches.running(None) is not None or self._may_refresh()):
            found = _pick(await self._refresh(), kid, alg)
        if found is None:
            named = f"kid {kid!r}" if kid is not None else "no kid"
            raise Unauthenticated(f"no signing key of the identity provider matches the token ({named})")
        return found

    def state(self) -> dict[str, Any]:
        """For the health report: how fresh the set is and the last fetch error."""
        now = self.clock()
        return {
            "keys": len(self._keys) if self._keys is not None else None,
            "age_s": round(now - self._fetched, 1) if self._keys is not None else None,
            "expires_in_s": round(self._expires - now, 1) if self._keys is not None else None,
            "last_error": self._last_error,
        }

    async def close(self) -> None:
        self._fetches.cancel()
        if self._session is not None:
            await self._session.close()

    async def _current(self) -> list[SigningKey]:
        now = self.clock()
        if self._keys is not None and now < self._expires:
            return self._keys
        if self._fetches.running(None) is None and self._last_error is not None and not self._may_refresh():
            # a fetch failed moments ago: do not hammer the provider on every request
            return self._stale_or_raise(now)
        return await self._refresh()

    def _may_refresh(self) -> bool:
        return self.clock() - self._last_attempt >= self._cfg.jwks_refresh_interval_s

    async def _refresh(self) -> list[SigningKey]:
        if self._fetches.running(None) is None:
            self._last_attempt = self.clock()
        return await self._fetches.join(None, self._fetch_and_keep)

    async def _fetch_and_keep(self) -> list[SigningKey]:
        try:
            keys, lifetime = await self._download()
        except JwksError as exc:
            self._last_error = str(exc)
            if self._cfg.jwks_url is None:
                self._jwks_uri = None  # discover again next time: the provider may have moved it
            return self._stale_or_raise(self.clock(), exc)
        now = self.clock()
        self._keys, self._fetched, self._expires, self._last_error = keys, now, now + lifetime, None
        log.info("identity provider key set fetched: %d keys (kids %s), cached %.0f s",
                 len(keys), ", ".join(str(k.kid) for k in keys), lifetime)
        return keys

    def _stale_or_raise(self, now: float, error: Exception | None = None) -> list[SigningKey]:
        if self._keys is not None and now < self._expires + self._cfg.jwks_stale_if_error_s:
            if error is not None:
                log.warning("identity provider keys could not be refreshed (%s); still using the set fetched "
                            "%.0f s ago", error, now - self._fetched)
            return self._keys
        detail = self._last_error or "no key set fetched yet"
        raise StoreUnavailable("identity provider", detail) from error

    async def _download(self) -> tuple[list[SigningKey], float]:
        session = self._client()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover(session)
            document, headers = await _get_json(session, self._jwks_uri)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise JwksError(f"{type(exc).__name__}: {exc}") from exc
        keys = signing_keys(document, self._cfg.algorithms)
        if not keys:
            raise JwksError(f"{self._jwks_uri} holds no usable RSA or EC signing key")
        cfg = self._cfg
        return keys, cache_lifetime(headers, cfg.jwks_cache_s, cfg.jwks_cache_min_s, cfg.jwks_cache_max_s)

    async def _discover(self, session: aiohttp.ClientSession) -> str:
        issuer = self._cfg.issuer or ""
        url = issuer.rstrip("/") + DISCOVERY_PATH
        document, _ = await _get_json(session, url)
        if not isinstance(document, dict):
            raise JwksError(f"{url} is not a discovery document")
        # OpenID Connect Discovery §4.3: the issuer must be exactly the one we expect
        if document.get("issuer") != issuer:
            raise JwksError(f"{url} names issuer {document.get('issuer')!r}, not {issuer!r}")
        return _checked_url(document.get("jwks_uri"), "the discovery document's jwks_uri")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._cfg.jwks_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout, headers={"Accept": "application/json"})
        return self._session


def _pick(keys: Sequence[SigningKey], kid: str | None, alg: str) -> SigningKey | None:
    """The key for (kid, alg); None when the kid is not in the set (a refresh may help);
    Unauthenticated when the kid is known but not for this algorithm."""
    if kid is None and len(keys) != 1:  # without a kid, only a set of one key says which key is meant
        raise Unauthenticated("the token names no key (kid) and the identity provider publishes several")
    named = [k for k in keys if k.kid == kid] if kid is not None else list(keys)
    if not named:
        return None
    for key in named:
        if alg in key.algorithms:
            return key
    raise Unauthenticated(f"algorithm {alg} is not allowed for the identity provider's key {kid!r}")


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[Any, Mapping[str, str]]:
    async with session.get(url, allow_redirects=False) as resp:
        if resp.status != 200:
            raise JwksError(f"{url} answered HTTP {resp.status}")
        body = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise JwksError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body), resp.headers
        except ValueError as exc:
            raise JwksError(f"{url} did not answer JSON") from exc
