"""SIGHUP reload (the same Reloader the signal drives) applies rate limits, CORS origins and
GraphQL limits to the running app."""
from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

from aiohttp.test_utils import TestClient

from app.ops.runtime import RELOADER_KEY
from app.settings import Settings
from app.web import create_app
from tests.api.authkit import Caller, make_key, secure_settings

ClientFactory = Callable[..., Awaitable[TestClient]]
DEEP = "{ memories(first: 1) { nodes { entities { relations { source } } } } }"


async def test_reload_applies_rates_cors_and_query_limits(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    current: list[Settings] = [secure_settings(tmp_path, limits={"burst": 100, "max_depth": 12})]
    client = await aiohttp_client(create_app(current[0], reload=lambda: current[0]))
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert "Access-Control-Allow-Origin" not in (await client.options("/graphql", headers=preflight)).headers
    assert (await alice.post(DEEP))[0] == 200

    current[0] = secure_settings(tmp_path, cors_origins=["https://app.example"],
                                 limits={"burst": 2, "requests_per_s": 0.01, "max_depth": 3})
    result = await client.app[RELOADER_KEY].reload()
    assert {"cors_origins", "limits.burst", "limits.max_depth"} <= set(result.applied)
    assert result.needs_restart == []

    resp = await client.options("/graphql", headers=preflight)
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    status, body = await alice.post(DEEP)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    statuses = [(await alice.post("{ memories(first: 1) { nodes { id } } }"))[0] for _ in range(3)]
    assert 429 in statuses  # the smaller bucket is in force
