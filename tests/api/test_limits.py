"""Rate limits (in-memory buckets; the Redis-backed ones are in tests/integration) and the
GraphQL guards on what one operation may cost."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from app.graphql import limits
from app.web import create_app
from tests.api.authkit import Caller, error_code, make_key, secure_settings

ClientFactory = Callable[..., Awaitable[TestClient]]
WHOAMI = "{ memories(first: 1) { nodes { id } } }"


async def start(aiohttp_client: ClientFactory, tmp_path: Path, **overrides: Any) -> TestClient:
    return await aiohttp_client(create_app(secure_settings(tmp_path, **overrides)))


async def test_a_principal_over_its_rate_gets_429_with_retry_after_then_recovers(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, tmp_path, limits={"requests_per_s": 4, "burst": 3})
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    bob = Caller(client, await make_key(client.app, "user", user_id="bob"))
    for _ in range(3):
        assert (await alice.post(WHOAMI))[0] == 200
    resp = await client.post("/graphql", json={"query": WHOAMI}, headers=alice.headers)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    (error,) = (await resp.json())["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 0.25 + 1e-3
    assert (await bob.post(WHOAMI))[0] == 200  # buckets are per principal
    await asyncio.sleep(error["extensions"]["retryAfter"])
    assert (await alice.post(WHOAMI))[0] == 200


async def test_failed_authentications_block_that_credential_from_that_address_for_a_while(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    # 2 failures at once, then one more every 0.5 s
    client = await start(aiohttp_client, tmp_path, limits={"auth_failures_per_min": 120, "auth_failure_burst": 2})
    good = Caller(client, await make_key(client.app, "admin"))
    bad = Caller(client, "amk_0123456789abcdef_" + "x" * 43)
    assert [(await bad.post(WHOAMI))[0] for _ in range(2)] == [401, 401]
    status, body = await bad.post(WHOAMI)
    assert status == 429 and error_code(body) == "RATE_LIMITED"
    # the credential is checked first: a valid key from the same address (a shared proxy) passes,
    # and another client's different bad key gets its own count
    assert (await good.post(WHOAMI))[0] == 200
    other = Caller(client, "amk_fedcba9876543210_" + "y" * 43)
    assert (await other.post(WHOAMI))[0] == 401
    await asyncio.sleep(0.55)
    assert (await bad.post(WHOAMI))[0] == 401  # one failure refilled


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_address(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await start(aiohttp_client, tmp_path, limits={"auth_failures_per_min": 1, "auth_failure_burst": 1},
                         auth={"trusted_proxies": ["127.0.0.0/8", "::1"]})
    bad = {"Authorization": "Bearer amk_0123456789abcdef_" + "x" * 43}

    async def attempt(**headers: str) -> int:
        resp = await client.post("/graphql", json={"query": WHOAMI}, headers={**bad, **headers})
        return resp.status

    assert await attempt(**{"X-Forwarded-For": "203.0.113.7"}) == 401
    assert await attempt(**{"X-Forwarded-For": "203.0.113.7"}) == 429
    assert await attempt(**{"X-Forwarded-For": "198.51.100.9"}) == 401  # another client behind the proxy
    assert await attempt(Forwarded='for="[2001:db8::1]:4711";proto=https') == 401
    assert await attempt(Forwarded='for="[2001:db8::1]:4711"') == 429


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, limits={"auth_failures_per_min": 1, "auth_failure_burst": 1})
    bad = {"Authorization": "Bearer amk_0123456789abcdef_" + "x" * 43}
    first = await client.post("/graphql", json={"query": WHOAMI}, headers={**bad, "X-Forwarded-For": "203.0.113.7"})
    second = await client.post("/graphql", json={"query": WHOAMI}, headers={**bad, "X-Forwarded-For": "198.51.100.9"})
    assert (first.status, second.status) == (401, 429)


async def test_the_token_endpoint_is_rate_limited_per_address(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, limits={"token_requests_per_min": 1, "token_burst": 2})
    key = await make_key(client.app, "user", user_id="alice")
    answers = [await client.post("/auth/token", json={"grant_type": "api_key", "api_key": key}) for _ in range(3)]
    assert [r.status for r in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert (await Caller(client, key).post(WHOAMI))[0] == 200  # the API itself is not affected


async def test_operations_on_a_websocket_are_rate_limited_too(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, limits={"requests_per_s": 1, "burst": 3})
    key = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"  # 1 token
        answers = []
        for n in range(3):
            await ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": WHOAMI}})
            message = await ws.receive_json(timeout=5)
            if message["type"] == "next":
                await ws.receive_json(timeout=5)  # complete
            answers.append(message)
    assert [m["type"] for m in answers] == ["next", "next", "error"]  # refused before it ran
    (error,) = answers[2]["payload"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0


# -- GraphQL guards -------------------------------------------------------------------------

@pytest.fixture
async def admin(aiohttp_client: ClientFactory, tmp_path: Path) -> Caller:
    client = await start(aiohttp_client, tmp_path, limits={"max_depth": 6, "max_aliases": 3, "max_tokens": 200,
                                                           "max_cost": 500})
    return Caller(client, await make_key(client.app, "admin"))


async def test_too_deep_is_refused(admin: Caller) -> None:
    deep = "{ memories { nodes { relations { memory { relations { memory { relations { source } } } } } } } }"
    body = await admin(deep)
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and "depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(admin: Caller) -> None:
    body = await admin("{ a: __typename b: __typename c: __typename d: __typename }")
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and "aliases" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(admin: Caller) -> None:
    body = await admin("{ " + " ".join(["__typename"] * 250) + " }")
    assert error_code(body) == "GRAPHQL_PARSE_FAILED" and "tokens" in body["errors"][0]["message"]


async def test_the_cost_rule_multiplies_page_sizes_and_reads_variables(admin: Caller) -> None:
    query = "query($n: Int!) { memories(first: $n) { nodes { id history { event } } } }"
    # memories 1 + n * (nodes 1 + id 1 + history (1 + 10 * event 1)) = 1 + 13n
    assert "errors" not in await admin(query, n=5)
    body = await admin(query, n=50)
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    assert body["errors"][0]["extensions"]["cost"] == 651 and body["errors"][0]["extensions"]["maxCost"] == 500
    assert body["data"] is None


async def test_a_document_is_priced_once_unless_a_variable_sets_a_size(
    admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices: list[int] = []
    real = limits.operation_cost
    monkeypatch.setattr(limits, "operation_cost", lambda *args: prices.append(1) or real(*args))
    fixed = "{ memories(first: 40) { nodes { id text history { event } } } }  # priced once"
    for _ in range(3):  # 1 + 40 * (1 + 1 + 1 + 11)
        assert (await admin(fixed))["errors"][0]["extensions"]["cost"] == 561
    assert len(prices) == 1
    sized = "query($n: Int!) { memories(first: $n) { nodes { id history { event } } } }  # priced each time"
    assert "errors" not in await admin(sized, n=5)
    assert (await admin(sized, n=50))["errors"][0]["extensions"]["cost"] == 651
    assert "errors" not in await admin(sized, n=5)
    assert len(prices) == 4


async def test_fragments_are_priced_where_they_are_spread(admin: Caller) -> None:
    query = """query { memories(first: 40) { ...F } }
               fragment F on MemoryConnection { nodes { id text history { event } } }"""
    body = await admin(query)  # 1 + 40 * (1 + 1 + 1 + 11)
    assert body["errors"][0]["extensions"]["cost"] == 561


async def test_introspection_can_be_switched_off(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, introspection=False)
    admin = Caller(client, await make_key(client.app, "admin"))
    body = await admin("{ __schema { types { name } } }")
    assert body["data"] is None and body["errors"]
    for error in body["errors"]:
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "introspection" in error["message"]
    assert "errors" not in await admin("{ __typename }")
