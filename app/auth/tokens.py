"""Tokens we issue: an API key is exchanged for a short-lived access token (a JWT signed with
HS256 by our own secret) and a refresh token (opaque, stored hashed, single use).

Each exchange starts a refresh-token family. A refresh rotates: the presented token is used up
and a new one of the same family comes back. Presenting a used token again means it leaked
(either the thief or the client already used it), so the whole family is revoked and both
must authenticate with the API key again.

Access tokens name the key they came from; every check reads that key, so revoking (or
rotating) the key ends its tokens at once."""
from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from app.auth.keys import KeyManager, SecretHasher
from memory.access import Principal
from memory.credentials import ApiKeyRecord, CredentialStore, RefreshTokenRecord
from memory.errors import Unauthenticated
from memory.models import utcnow

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
REFRESH_PREFIX = "amr_"
_REFRESH = re.compile(r"^amr_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
INVALID_TOKEN = "invalid or expired access token"  # nosec B105  # an error message, not a password
INVALID_REFRESH = "invalid, expired or revoked refresh token"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "Bearer"

    def as_json(self) -> dict[str, Any]:
        """The OAuth 2 token response (RFC 6749 §5.1)."""
        return {
            "access_token": self.access_token, "token_type": self.token_type, "expires_in": self.expires_in,
            "refresh_token": self.refresh_token, "refresh_expires_in": self.refresh_expires_in,
        }


class TokenService:
    def __init__(
        self, store: CredentialStore, keys: KeyManager, hasher: SecretHasher, secret: bytes, *,
        issuer: str, access_ttl_s: int, refresh_ttl_s: int, leeway_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the token signing secret must be at least 32 bytes")
        self._store = store
        self._keys = keys
        self._hasher = hasher
        self._secret = secret
        self.issuer = issuer
        self._access_ttl = access_ttl_s
        self._refresh_ttl = refresh_ttl_s
        self._leeway = leeway_s
        self._clock = clock

    async def exchange(self, api_key: str) -> TokenPair:
        """A new family for a valid API key."""
        key = await self._keys.authenticate(api_key)
        return await self._issue(key, uuid.uuid4().hex)

    async def refresh(self, text: str) -> TokenPair:
        match = _REFRESH.match(text)
        record = await self._store.get_refresh_token(match.group(1)) if match else None
        if record is None or not self._hasher.verify(text, record.secret_hash):
            raise Unauthenticated(INVALID_REFRESH)
        now = self._clock()
        if record.revoked_at is not None or now >= record.expires_at:
            raise Unauthenticated(INVALID_REFRESH)
        # used_at set, or losing the race to use it: either way this token was presented twice
        if record.used_at is not None or not await self._store.use_refresh_token(record.id, now):
            revoked = await self._store.revoke_family(record.family_id, now)
            log.warning("refresh token %s reused: family %s revoked (%d tokens)", record.id, record.family_id, revoked)
            raise Unauthenticated(INVALID_REFRESH)
        key = await self._keys.active(record.key_id)
        if key is None:
            await self._store.revoke_family(record.family_id, now)
            raise Unauthenticated(INVALID_REFRESH)
        return await self._issue(key, record.family_id)

    async def purge_expired(self) -> int:
        """Drops refresh-token families that can no longer be used (every token expired)."""
        return await self._store.purge_refresh_tokens(self._clock())

    def verify_claims(self, token: str) -> dict[str, Any]:
        """Signature, algorithm (HS256 only), issuer, audience and times of one of our tokens."""
        import jwt  # here, not at import: with it comes `cryptography` (~9 MiB), unused by API keys

        try:
            return jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], issuer=self.issuer, audience=self.issuer,
                leeway=self._leeway, options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "key_id"]},
            )
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID_TOKEN) from None

    async def verify(self, token: str) -> Principal:
        claims = self.verify_claims(token)
        key = await self._keys.active(str(claims["key_id"]))
        if key is None:  # revoked, rotated or expired since the token was issued
            raise Unauthenticated(INVALID_TOKEN)
        return key.principal()

    async def _issue(self, key: ApiKeyRecord, family_id: str) -> TokenPair:
        now = self._clock()
        access_expires = now + timedelta(seconds=self._access_ttl)
        refresh_expires = now + timedelta(seconds=self._refresh_ttl)
        if key.expires_at is not None:  # never outlive the key
            access_expires = min(access_expires, key.expires_at)
            refresh_expires = min(refresh_expires, key.expires_at)
        claims = {
            "iss": self.issuer, "aud": self.issuer, "sub": f"key:{key.id}", "key_id": key.id,
            "role": key.role.value, "iat": now, "nbf": now, "exp": access_expires, "jti": uuid.uuid4().hex,
        }
        import jwt

        access = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        id = uuid.uuid4().hex
        refresh = f"{REFRESH_PREFIX}{id}_{secrets.token_urlsafe(32)}"
        await self._store.add_refresh_token(RefreshTokenRecord(
            id=id, family_id=family_id, key_id=key.id, secret_hash=self._hasher.hash(refresh),
            created_at=now, expires_at=refresh_expires,
        ))
        return TokenPair(
            access, refresh, max(0, int((access_expires - now).total_seconds())),
            max(0, int((refresh_expires - now).total_seconds())),
        )
