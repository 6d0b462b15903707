"""API keys: how they look, how their hashes are made, and the operations on them.

A key reads `amk_<id>_<secret>`: the 16-hex-digit id finds the row, the 256-bit secret is
checked against the stored hash. The secrets are random, not chosen by people, so one fast
hash is enough (no password-hashing work factor); an optional pepper (HMAC key kept outside
the database) makes a stolen table useless on its own."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from datetime import datetime
from typing import Callable

from memory.access import Principal, Role
from memory.concurrency import SharedCalls
from memory.credentials import ApiKeyRecord, CredentialStore
from memory.errors import AgentMemError, Forbidden, InvalidInput, NotFound, Unauthenticated
from memory.models import Scope, utcnow

log = logging.getLogger(__name__)

KEY_PREFIX = "amk_"
_KEY = re.compile(r"^amk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MAX_NAME = 100
INVALID_KEY = "invalid API key"
_MAX_CACHED = 10_000  # distinct keys remembered as verified; past it the cache starts over


class SecretHasher:
    """Hashes of high-entropy secrets (API keys, refresh tokens). The stored form names its
    scheme so that keys made before a pepper was configured can still be checked."""

    def __init__(self, pepper: bytes | None = None) -> None:
        self._pepper = pepper

    def hash(self, secret: str) -> str:
        if self._pepper:
            return "hmac-sha256:" + hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()
        return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, secret: str, stored: str) -> bool:
        scheme, _, digest = stored.partition(":")
        if scheme == "hmac-sha256" and self._pepper:
            expected = hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()
        elif scheme == "sha256":
            expected = hashlib.sha256(secret.encode()).hexdigest()
        else:  # peppered hash but no pepper configured: cannot be checked, so it does not pass
            return False
        return hmac.compare_digest(expected, digest)


def new_key() -> tuple[str, str]:
    """(id, full key text)."""
    id = secrets.token_hex(8)
    return id, f"{KEY_PREFIX}{id}_{secrets.token_urlsafe(32)}"


def key_id(text: str) -> str | None:
    """The id inside a well-formed key, else None."""
    match = _KEY.match(text)
    return match.group(1) if match else None


class KeyManager:
    """Creates, checks, rotates and revokes API keys.

    A key that checked out is trusted again for `cache_s` without reading its row: the look-up
    was a sixth of the event loop's work per request under load. A revocation or rotation made
    through this process takes effect on the next request (its entries are dropped); one made
    elsewhere (another replica, the CLI) within `cache_s`. Failures are never cached, and expiry
    is checked on every request. `cache_s = 0` reads the row every time.

    When caching, requests with the same key that miss together share one read of its row (before,
    as an entry expired under 16 concurrent clients, each of them read it): a read that fails or
    hangs then fails or holds each of them. A row read before a revocation or rotation here ends
    is neither cached nor shared with a request that comes after it."""

    def __init__(self, store: CredentialStore, hasher: SecretHasher, *,
                 clock: Callable[[], datetime] = utcnow, touch_interval_s: float = 30.0,
                 cache_s: float = 0.0) -> None:
        self.store = store
        self._hasher = hasher
        self._clock = clock
        self._touch_interval_s = touch_interval_s
        self._used: dict[str, datetime] = {}
        self._cache_s = cache_s
        self._verified: dict[str, tuple[float, ApiKeyRecord]] = {}  # digest of the key text -> (until, row)
        self._reads: SharedCalls[str, ApiKeyRecord | None] = SharedCalls("api-key-read")  # by digest
        # bumped as each revocation or rotation through this manager (of any key) is written: a
        # read begun before then is not cached
        self._forgotten = 0

    async def create(self, name: str, role: Role, *, user_id: str | None = None, agent_id: str | None = None,
                     expires_at: datetime | None = None, created_by: str | None = None) -> tuple[ApiKeyRecord, str]:
        record, text = self._new(name, role, user_id, agent_id, expires_at, created_by)
        await self.store.add_key(record)
        log.info("API key %s (%s, role %s) created by %s", record.id, record.name, role.value, created_by)
        return record, text

    async def rotate(self, id: str, *, created_by: str | None = None) -> tuple[ApiKeyRecord, str]:
        """A new key with the same name, role and binding; the old one stops working now."""
        old = await self.store.get_key(id)
        if old is None or not old.active(self._clock()):
            raise NotFound(f"no active API key {id!r}")
        record, text = self._new(old.name, old.role, old.user_id, old.agent_id, old.expires_at, created_by)
        try:
            replaced = await self.store.replace_key(id, record, self._clock())
        finally:  # even when the write failed: it may have committed
            self._forget(id)
        if replaced is None:
            raise NotFound(f"no active API key {id!r}")  # revoked meanwhile
        log.info("API key %s rotated to %s by %s", id, record.id, created_by)
        return record, text

    async def revoke(self, id: str) -> ApiKeyRecord:
        try:
            record = await self.store.revoke_key(id, self._clock())
        finally:
            self._forget(id)
        if record is None:
            raise NotFound(f"no API key {id!r}")
        log.info("API key %s revoked", id)
        return record

    async def list_keys(self, include_revoked: bool = False) -> list[ApiKeyRecord]:
        return await self.store.list_keys(include_revoked)

    async def authenticate(self, text: str) -> ApiKeyRecord:
        """The active key `text` is; Unauthenticated otherwise (one message for every reason,
        so that ids of existing keys cannot be probed)."""
        now = self._clock()
        digest = hashlib.sha256(text.encode()).hexdigest() if self._cache_s > 0 else ""
        cached = self._verified.get(digest) if digest else None
        if cached is not None and cached[0] > time.monotonic() and cached[1].active(now):
            record = cached[1]
        else:
            id = key_id(text)
            forgotten = self._forgotten
            record = await self._row(id, digest) if id else None
            if record is None or not self._hasher.verify(text, record.secret_hash) or not record.active(now):
                self._verified.pop(digest, None)
                raise Unauthenticated(INVALID_KEY)
            if digest and forgotten == self._forgotten:
                if len(self._verified) >= _MAX_CACHED:
                    self._verified.clear()
                self._verified[digest] = (time.monotonic() + self._cache_s, record)
        self._used[record.id] = now
        return record

    async def _row(self, id: str, digest: str) -> ApiKeyRecord | None:
        """The key's row; when caching, one read shared by the requests that wait for it."""
        if not digest:
            return await self.store.get_key(id)
        return await self._reads.join(digest, lambda: self.store.get_key(id))

    def _forget(self, id: str) -> None:
        """After a revocation's or rotation's write: no request trusts the key from then on, and
        no read begun before it (of any key) is cached, or joined by a later request."""
        self._forgotten += 1
        self._reads.drop()  # the reads in flight still answer the requests awaiting them
        self._verified = {d: entry for d, entry in self._verified.items() if entry[1].id != id}

    async def active(self, id: str) -> ApiKeyRecord | None:
        record = await self.store.get_key(id)
        return record if record is not None and record.active(self._clock()) else None

    async def flush_usage(self) -> None:
        used, self._used = self._used, {}
        await self.store.touch_keys(sorted(used.items()))

    async def record_usage(self) -> None:
        """Runs for the app's lifetime: last-use times are written in batches, not per request."""
        try:
            while True:
                await asyncio.sleep(self._touch_interval_s)
                await self._flush_logged()
        finally:
            await asyncio.shield(self._flush_logged())

    async def _flush_logged(self) -> None:
        try:
            await self.flush_usage()
        except AgentMemError as exc:  # the store is down: only last-use times are lost
            log.warning("could not record API key use: %s", exc)

    def _new(self, name: str, role: Role, user_id: str | None, agent_id: str | None,
             expires_at: datetime | None, created_by: str | None) -> tuple[ApiKeyRecord, str]:
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidInput(f"an API key's name must be 1-{MAX_NAME} characters")
        if role is Role.ADMIN and (user_id or agent_id):
            raise InvalidInput("an admin key is not bound to a user or agent")
        if role is Role.USER and agent_id:
            raise InvalidInput("a user key is bound to a user_id only (use role agent for an agent)")
        Scope(user_id, agent_id)  # validates the ids (InvalidInput)
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidInput("expires_at must be in the future")
        id, text = new_key()
        try:
            Principal(f"key:{id}", role, user_id, agent_id)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        record = ApiKeyRecord(
            id=id, name=name, secret_hash=self._hasher.hash(text), role=role, user_id=user_id, agent_id=agent_id,
            created_at=self._clock(), created_by=created_by, expires_at=expires_at,
        )
        return record, text


class KeyAdmin:
    """Key management as seen by one principal: admins only, checked on every operation."""

    def __init__(self, keys: KeyManager, principal: Principal) -> None:
        self._keys = keys
        self.principal = principal

    def _admin(self) -> None:
        if not self.principal.is_admin:
            raise Forbidden("only an admin may manage API keys")

    async def create(self, name: str, role: Role, *, user_id: str | None = None, agent_id: str | None = None,
                     expires_at: datetime | None = None) -> tuple[ApiKeyRecord, str]:
        self._admin()
        return await self._keys.create(name, role, user_id=user_id, agent_id=agent_id, expires_at=expires_at,
                                       created_by=self.principal.id)

    async def rotate(self, id: str) -> tuple[ApiKeyRecord, str]:
        self._admin()
        return await self._keys.rotate(id, created_by=self.principal.id)

    async def revoke(self, id: str) -> ApiKeyRecord:
        self._admin()
        return await self._keys.revoke(id)

    async def list_keys(self, include_revoked: bool = False) -> list[ApiKeyRecord]:
        self._admin()
        return await self._keys.list_keys(include_revoked)
