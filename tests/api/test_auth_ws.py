"""WebSocket authentication: the credential travels in connection_init; a connection that
never authenticates, or fails to, is closed with the protocol's codes; a revoked credential
closes an open connection; per-connection subscription limit."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app.auth import KEY_MANAGER_KEY
from app.web import create_app
from tests.api.authkit import idp_token, make_key, secure_settings

ClientFactory = Callable[..., Awaitable[TestClient]]
TRANSPORT, LEGACY = "graphql-transport-ws", "graphql-ws"
EVENTS = "subscription { memoryEvents { kind memoryId userId } }"
TIMEOUT = 5


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = secure_settings(
        tmp_path, limits={"connection_init_wait_s": 0.3, "subscriptions_per_connection": 2},
        auth={"websocket_recheck_s": 0.1},
    )
    return await aiohttp_client(create_app(settings))


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Reads until the server closes; the close code."""
    async with asyncio.timeout(TIMEOUT):
        async for _ in ws:
            pass
    return ws.close_code


async def init(ws: aiohttp.ClientWebSocketResponse, payload: dict[str, Any] | None) -> dict[str, Any]:
    await ws.send_json({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
    return await ws.receive_json(timeout=TIMEOUT)


@pytest.mark.parametrize("payload", [None, {}, {"Authorization": "Bearer amk_0123456789abcdef_" + "x" * 43},
                                     {"token": idp_token(lifetime=-300)}, {"apiKey": "nonsense"}])
async def test_graphql_transport_ws_without_a_valid_credential_is_closed_4403(client: TestClient,
                                                                              payload: Any) -> None:
    async with client.ws_connect("/graphql", protocols=[TRANSPORT]) as ws:
        await ws.send_json({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        assert await closed_with(ws) == 4403


@pytest.mark.parametrize("payload", [
    lambda key: {"Authorization": f"Bearer {key}"}, lambda key: {"authorization": key},
    lambda key: {"apiKey": key}, lambda key: {"headers": {"X-API-Key": key}}, lambda key: {"token": key},
])
async def test_the_credential_may_come_in_any_usual_connection_param(client: TestClient,
                                                                     payload: Callable[[str], dict]) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=[TRANSPORT]) as ws:
        assert (await init(ws, payload(key)))["type"] == "connection_ack"


async def test_a_non_browser_client_may_authenticate_the_upgrade_request(client: TestClient) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=[TRANSPORT], headers={"X-API-Key": key}) as ws:
        assert (await init(ws, {}))["type"] == "connection_ack"


async def test_silence_after_connecting_is_closed_4408_on_both_protocols(client: TestClient) -> None:
    for protocol in (TRANSPORT, LEGACY):
        async with client.ws_connect("/graphql", protocols=[protocol]) as ws:
            assert await closed_with(ws) == 4408, protocol


async def test_subscribing_before_connection_init_is_closed_4401(client: TestClient) -> None:
    async with client.ws_connect("/graphql", protocols=[TRANSPORT]) as ws:
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
        assert await closed_with(ws) == 4401


async def test_legacy_graphql_ws_refuses_with_connection_error(client: TestClient) -> None:
    async with client.ws_connect("/graphql", protocols=[LEGACY]) as ws:
        answer = await init(ws, {"Authorization": "Bearer nonsense"})
        assert answer["type"] == "connection_error"
        assert answer["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        assert await closed_with(ws) == 1011
    key = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=[LEGACY]) as ws:
        assert (await init(ws, {"Authorization": f"Bearer {key}"}))["type"] == "connection_ack"


async def test_revoking_the_key_closes_its_open_connection(client: TestClient) -> None:
    keys = client.app[KEY_MANAGER_KEY]
    key = await make_key(client.app, "user", user_id="alice")
    (record,) = await keys.list_keys()
    async with client.ws_connect("/graphql", protocols=[TRANSPORT]) as ws:
        assert (await init(ws, {"Authorization": f"Bearer {key}"}))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
        await keys.revoke(record.id)
        assert await closed_with(ws) == 4403


async def test_subscriptions_per_connection_are_limited(client: TestClient) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=[TRANSPORT]) as ws:
        await init(ws, {"Authorization": f"Bearer {key}"})
        for n in range(3):
            await ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": EVENTS}})
        answer = await ws.receive_json(timeout=TIMEOUT)
        assert answer["id"] == "2" and answer["type"] == "error"
        assert "limit" in answer["payload"][0]["message"]


async def test_legacy_graphql_ws_refuses_a_second_connection_init_and_closes(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    bob = await make_key(client.app, "user", user_id="bob")
    async with client.ws_connect("/graphql", protocols=[LEGACY]) as ws:
        assert (await init(ws, {"Authorization": f"Bearer {alice}"}))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "start", "payload": {"query": EVENTS}})
        answer = await init(ws, {"Authorization": f"Bearer {bob}"})
        while answer["type"] == "ka":  # keep-alives started with the first ack
            answer = await ws.receive_json(timeout=TIMEOUT)
        assert answer["type"] == "connection_error" and answer["payload"]["extensions"]["code"] == "BAD_REQUEST"
        assert await closed_with(ws) == 1011
