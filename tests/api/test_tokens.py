"""POST /auth/token: an API key exchanged for an access token and a refresh token; refresh
rotates; reusing a refresh token revokes its whole family; revoking the key ends them all."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import jwt
import pytest
from aiohttp.test_utils import TestClient

from app.auth import KEY_MANAGER_KEY
from app.web import create_app
from tests.api.authkit import Caller, error_code, make_key, secure_settings

ClientFactory = Callable[..., Awaitable[TestClient]]
WHOAMI = "{ memories(first: 1) { nodes { id } } }"


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    return await aiohttp_client(create_app(secure_settings(tmp_path)))


async def token(client: TestClient, **form: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/auth/token", json=form)
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


async def exchange(client: TestClient, key: str) -> dict[str, Any]:
    status, body = await token(client, grant_type="api_key", api_key=key)
    assert status == 200, body
    return body


async def refresh(client: TestClient, refresh_token: str) -> tuple[int, dict[str, Any]]:
    return await token(client, grant_type="refresh_token", refresh_token=refresh_token)


async def works(client: TestClient, access: str) -> bool:
    status, _ = await Caller(client, access).post(WHOAMI)
    assert status in (200, 401)
    return status == 200


async def test_an_api_key_is_exchanged_for_a_short_lived_token_pair(client: TestClient) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    pair = await exchange(client, key)
    assert pair["token_type"] == "Bearer" and 0 < pair["expires_in"] <= 900
    assert pair["refresh_token"].startswith("amr_") and pair["refresh_expires_in"] > pair["expires_in"]
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "agentmem" and claims["role"] == "user" and claims["exp"] - claims["iat"] == 900
    assert await works(client, pair["access_token"])
    # the key can also come in a header, as form data
    resp = await client.post("/auth/token", data={"grant_type": "api_key"}, headers={"X-API-Key": key})
    assert resp.status == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    first = await exchange(client, key)
    other_family = await exchange(client, key)

    status, second = await refresh(client, first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    status, third = await refresh(client, second["refresh_token"])
    assert status == 200

    status, body = await refresh(client, first["refresh_token"])  # an old one, presented again
    assert status == 400 and body["error"] == "invalid_grant"
    status, _ = await refresh(client, third["refresh_token"])  # the newest of that family: gone too
    assert status == 400
    status, _ = await refresh(client, other_family["refresh_token"])  # another family: unaffected
    assert status == 200


async def test_two_concurrent_refreshes_with_one_token_let_at_most_one_through(client: TestClient) -> None:
    pair = await exchange(client, await make_key(client.app, "admin"))
    results = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(4)))
    winners = [body for status, body in results if status == 200]
    assert len(winners) <= 1
    for body in winners:  # the race counted as reuse: the family is revoked
        assert (await refresh(client, body["refresh_token"]))[0] == 400


async def test_revoking_the_key_ends_its_access_and_refresh_tokens_at_once(client: TestClient) -> None:
    keys = client.app[KEY_MANAGER_KEY]
    key = await make_key(client.app, "user", user_id="alice")
    pair = await exchange(client, key)
    assert await works(client, pair["access_token"])
    (record,) = [k for k in await keys.list_keys() if k.user_id == "alice"]
    await keys.revoke(record.id)
    assert not await works(client, pair["access_token"])
    assert (await refresh(client, pair["refresh_token"]))[0] == 400


@pytest.mark.parametrize("form", [
    {"grant_type": "api_key", "api_key": "amk_0123456789abcdef_" + "x" * 43},
    {"grant_type": "api_key"},
    {"grant_type": "refresh_token", "refresh_token": "amr_" + "0" * 32 + "_" + "y" * 43},
    {"grant_type": "refresh_token", "refresh_token": "nonsense"},
    {"grant_type": "password", "username": "admin"},
])
async def test_bad_grants_are_refused(client: TestClient, form: dict[str, str]) -> None:
    status, body = await token(client, **form)
    assert status in (400, 401) and body["error"] in ("invalid_client", "invalid_grant", "unsupported_grant_type")


async def test_our_tokens_are_checked_like_any_other(client: TestClient, tmp_path: Path) -> None:
    pair = await exchange(client, await make_key(client.app, "admin"))
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    secret = (tmp_path / ".token-secret").read_text().strip().encode()
    now = int(time.time())
    for changed, key in [
        ({"exp": now - 60}, secret),  # expired
        ({"nbf": now + 3600}, secret),  # not yet valid
        ({"aud": "other"}, secret),  # wrong audience
        ({"key_id": "0123456789abcdef"}, secret),  # a key that does not exist
        ({}, b"a-forged-secret-of-sufficient-length-123456"),  # forged
    ]:
        forged = jwt.encode({**claims, **changed}, key, algorithm="HS256")
        status, body = await Caller(client, forged).post(WHOAMI)
        assert status == 401 and error_code(body) == "UNAUTHENTICATED", changed
    # HS512 with the right secret: not the algorithm we sign with, so refused
    assert not await works(client, jwt.encode(claims, secret, algorithm="HS512"))
    assert await works(client, jwt.encode(claims, secret, algorithm="HS256"))  # the control
