"""Puts authentication into the app: the authenticator (or, only when configured, development
mode), the credential store, the rate limiter (Redis-backed when redis_url is set), the token
endpoint and the HTTP middlewares (CORS, 401/429 answers)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from app import bootstrap
from app.auth import (
    AUTHENTICATOR_KEY,
    CLIENT_ADDRESS_KEY,
    JWKS_KEY,
    KEY_MANAGER_KEY,
    LIMITS_KEY,
    TOKENS_KEY,
    OpenAuthenticator,
)
from app.auth.authenticator import ClientAddress, CredentialAuthenticator
from app.auth.http import auth_errors_middleware, cors_middleware, token_endpoint
from app.auth.keys import KeyManager, SecretHasher
from app.auth.ratelimit import Limits, MemoryRateLimiter, RateLimiter
from app.auth.tokens import TokenService
from app.keys import SETTINGS_KEY
from app.ops.health import Component, identity_provider_component
from app.ops.runtime import MONITOR_KEY, RELOADER_KEY
from app.secret_files import secret_file
from app.settings import Settings
from memory.background import cancel
from memory.errors import AgentMemError

log = logging.getLogger(__name__)

TOKEN_PATH = "/auth/token"  # nosec B105  # a URL path, not a password
PURGE_INTERVAL_S = 3600.0
RATE_KEYS = ("rate_limits", "requests_per_s", "burst", "auth_failures_per_min", "auth_failure_burst",
             "token_requests_per_min", "token_burst")
DEVELOPMENT_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!!  AUTHENTICATION IS OFF (auth.mode = development): every caller is an admin and can\n"
    "!!  read, change and delete every user's memories. Never expose this server.\n" + "!" * 78
)


def install_auth(app: web.Application, settings: Settings) -> None:
    # always installed (it passes requests without an allowed Origin through) so that a SIGHUP
    # can turn CORS on or change the origins
    cors = cors_middleware(settings.cors_origins)
    app.middlewares.append(cors)
    reloader = app.get(RELOADER_KEY)
    if reloader is not None:
        reloader.on_change("cors_origins", lambda new, old: cors.configure(new.cors_origins))
    app.middlewares.append(auth_errors_middleware)
    if settings.auth.mode == "development":
        log.warning(DEVELOPMENT_WARNING)
        app[AUTHENTICATOR_KEY] = OpenAuthenticator()
    app.cleanup_ctx.append(_auth)
    app.router.add_post(TOKEN_PATH, token_endpoint)


def token_secret(settings: Settings) -> bytes:
    """The configured signing secret, else one generated once and kept beside the data (fine
    for one server; replicas must configure a shared auth.token_secret)."""
    if settings.auth.token_secret is not None:
        return settings.auth.token_secret.get_secret_value().encode()
    return secret_file(Path(settings.data_dir) / ".token-secret", 48).encode()


def hasher_for(settings: Settings) -> SecretHasher:
    pepper = settings.auth.api_key_pepper
    return SecretHasher(pepper.get_secret_value().encode() if pepper else None)


@contextlib.asynccontextmanager
async def _limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    if not settings.redis_url:
        yield MemoryRateLimiter()
        return
    # loaded only here: redis costs a process without Redis ~10 MiB of RSS
    from app.auth.redis_ratelimit import RedisRateLimiter, limiter_client

    client = limiter_client(settings.redis_url)
    try:
        yield RedisRateLimiter(client, settings.limits.redis_prefix)
    finally:
        await client.aclose()


async def _purge_tokens(tokens: TokenService, interval_s: float = PURGE_INTERVAL_S) -> None:
    """Every exchange and refresh adds a row: expired families are deleted, at start and hourly."""
    while True:
        try:
            purged = await tokens.purge_expired()
            if purged:
                log.info("purged %d expired refresh tokens", purged)
        except AgentMemError as exc:  # the store is down: try again next time
            log.warning("could not purge expired refresh tokens: %s", exc)
        await asyncio.sleep(interval_s)


async def _auth(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    idp = None
    if settings.auth.idp.configured:
        from app.auth.idp import IdpVerifier  # with it jwt and cryptography, which API keys do not need

        idp = IdpVerifier(settings.auth.idp)
    if idp is not None and idp.jwks is not None:
        app[JWKS_KEY] = jwks = idp.jwks
        monitor = app.get(MONITOR_KEY)
        if monitor is not None:
            def component() -> Component:
                state = jwks.state()
                return identity_provider_component(state["keys"], state["expires_in_s"], state["last_error"] is not None)

            monitor.identity_provider = component
    async with bootstrap.credentials_context(settings) as store, _limiter(settings) as limiter:
        hasher = hasher_for(settings)
        keys = KeyManager(store, hasher, cache_s=settings.auth.key_cache_s)
        cfg = settings.auth
        tokens = TokenService(
            store, keys, hasher, token_secret(settings), issuer=cfg.token_issuer,
            access_ttl_s=cfg.access_token_ttl_s, refresh_ttl_s=cfg.refresh_token_ttl_s,
        )
        limits = Limits(limiter, settings.limits)
        app[KEY_MANAGER_KEY], app[TOKENS_KEY], app[LIMITS_KEY] = keys, tokens, limits
        app[CLIENT_ADDRESS_KEY] = ClientAddress(settings.auth.trusted_proxies)
        reloader = app.get(RELOADER_KEY)
        if reloader is not None:
            def new_rates(new: Settings, old: Settings) -> None:
                limits.reconfigure(new.limits)

            for key in RATE_KEYS:
                reloader.on_change(f"limits.{key}", new_rates)
        if settings.auth.mode != "development":
            app[AUTHENTICATOR_KEY] = CredentialAuthenticator(keys, tokens, idp, limits, app[CLIENT_ADDRESS_KEY])
        usage = asyncio.create_task(keys.record_usage(), name="api-key-usage")
        purge = asyncio.create_task(_purge_tokens(tokens), name="refresh-token-purge")
        try:
            yield
        finally:
            for task in (usage, purge):
                await cancel(task)
            if idp is not None:
                await idp.close()
