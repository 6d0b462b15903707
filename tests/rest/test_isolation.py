"""Who may touch what, through REST, with real API keys (enforced authentication): the same
rules as GraphQL, because both edges hand their handlers a GuardedMemoryService."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.auth import KEY_MANAGER_KEY
from app.keys import SERVICE_KEY
from app.settings import GraphSettings, Settings
from app.web import create_app
from memory.access import Role
from tests.rest.conftest import error, ok

ClientFactory = Callable[..., Awaitable[TestClient]]


class Caller:
    """The test client plus one API key, sent the way a given client would send it."""

    def __init__(self, client: TestClient, key: str, style: str = "Token") -> None:
        self.client = client
        self.headers = {"X-API-Key": key} if style == "X-API-Key" else {"Authorization": f"{style} {key}"}

    async def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.client.request(method, path, headers=self.headers, **kwargs)


@pytest.fixture
async def enforced(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False),
                        limits={"requests_per_s": 1000, "burst": 1000})
    return await aiohttp_client(create_app(settings))


async def key(client: TestClient, role: Role, **binding: str) -> str:
    _, text = await client.app[KEY_MANAGER_KEY].create(f"test {role.value}", role, **binding)
    return text


@pytest.fixture
async def callers(enforced: TestClient) -> dict[str, Caller]:
    return {
        "admin": Caller(enforced, await key(enforced, Role.ADMIN), "Bearer"),
        "alice": Caller(enforced, await key(enforced, Role.USER, user_id="alice"), "Token"),
        "bob": Caller(enforced, await key(enforced, Role.USER, user_id="bob"), "X-API-Key"),
        "planner": Caller(enforced, await key(enforced, Role.AGENT, user_id="alice", agent_id="planner")),
    }


async def add(caller: Caller, text: str, **scope: str) -> str:
    body = await ok(await caller("POST", "/v1/memories/", json={"messages": text, "infer": False, **scope}))
    return str(body["results"][0]["id"])


async def test_no_or_a_bad_credential_is_a_401(enforced: TestClient) -> None:
    await error(await enforced.get("/v1/ping/"), 401, "UNAUTHENTICATED")
    resp = await enforced.get("/v1/memories", headers={"Authorization": "Token am_not-a-real-key"})
    await error(resp, 401, "UNAUTHENTICATED")
    assert "Token" in resp.headers["WWW-Authenticate"]


async def test_each_header_style_authenticates(callers: dict[str, Caller]) -> None:
    assert (await ok(await callers["admin"]("GET", "/v1/ping/")))["role"] == "admin"
    assert (await ok(await callers["alice"]("GET", "/v1/ping/")))["role"] == "user"
    assert (await ok(await callers["bob"]("GET", "/v1/ping")))["role"] == "user"


async def test_a_user_key_writes_and_reads_only_its_own_memories(callers: dict[str, Caller]) -> None:
    alice, bob = callers["alice"], callers["bob"]
    mine = await add(alice, "alice likes tea")  # no user_id: the key's own user
    theirs = await add(bob, "bob likes coffee", user_id="bob")
    body = await ok(await alice("GET", "/v1/memories/"))
    assert [m["id"] for m in body["results"]] == [mine] and body["results"][0]["user_id"] == "alice"
    # another user's memory is invisible: 404, never 403, so ids cannot be probed
    for method, path, kwargs in (("GET", f"/v1/memories/{theirs}/", {}), ("PUT", f"/v1/memories/{theirs}/", {"json": {"text": "x"}}),
                                 ("DELETE", f"/v1/memories/{theirs}/", {}), ("GET", f"/v1/memories/{theirs}/history/", {})):
        await error(await alice(method, path, **kwargs), 404, "NOT_FOUND")
    # naming someone else's scope is refused
    await error(await alice("POST", "/v1/memories/", json={"messages": "x", "user_id": "bob"}), 403, "FORBIDDEN")
    await error(await alice("GET", "/v1/memories", params={"user_id": "bob"}), 403, "FORBIDDEN")
    await error(await alice("POST", "/v2/memories/search/", json={"query": "coffee", "filters": {"user_id": "bob"}}),
                403, "FORBIDDEN")
    await error(await alice("DELETE", "/v1/memories/", params={"user_id": "bob"}), 403, "FORBIDDEN")
    await error(await alice("DELETE", "/v2/entities/user/bob/"), 403, "FORBIDDEN")
    assert (await ok(await bob("GET", f"/v1/memories/{theirs}")))["memory"] == "bob likes coffee"


async def test_filters_cannot_widen_a_keys_view(callers: dict[str, Caller]) -> None:
    alice, bob = callers["alice"], callers["bob"]
    await add(alice, "alice likes tea")
    await add(bob, "bob likes tea", user_id="bob")
    for filters in ({"OR": [{"user_id": "bob"}, {"user_id": "alice"}]}, {"user_id": {"in": ["bob"]}},
                    {"NOT": {"user_id": "alice"}}, {"user_id": "*"}):
        listed = await ok(await alice("POST", "/v3/memories/", json={"filters": filters}))
        assert {m["user_id"] for m in listed["results"]} <= {"alice"}
        found = await ok(await alice("POST", "/v3/memories/search/", json={"query": "tea", "filters": filters}))
        assert {m["user_id"] for m in found["results"]} <= {"alice"}


async def test_entities_show_only_what_the_key_may_see(callers: dict[str, Caller]) -> None:
    await add(callers["alice"], "a", agent_id="planner")
    await add(callers["bob"], "b", agent_id="other")
    body = await ok(await callers["alice"]("GET", "/v1/entities/"))
    assert {(e["type"], e["name"]) for e in body["results"]} == {("user", "alice"), ("agent", "planner")}


async def test_an_agent_key_is_bound_to_its_agent(callers: dict[str, Caller]) -> None:
    planner, alice = callers["planner"], callers["alice"]
    own = await add(planner, "the plan is to ship on Friday")
    other = await add(alice, "alice's private note", agent_id="diary")
    assert (await ok(await planner("GET", f"/v1/memories/{own}")))["agent_id"] == "planner"
    await error(await planner("GET", f"/v1/memories/{other}"), 404, "NOT_FOUND")
    await error(await planner("GET", "/v1/memories", params={"agent_id": "diary"}), 403, "FORBIDDEN")


async def test_only_an_admin_may_reset(callers: dict[str, Caller]) -> None:
    await add(callers["alice"], "keep me")
    await error(await callers["alice"]("DELETE", "/v1/memories/reset/"), 403, "FORBIDDEN")
    await ok(await callers["admin"]("DELETE", "/v1/memories/reset/"))
    assert (await ok(await callers["alice"]("GET", "/v1/memories")))["results"] == []


async def test_the_rate_limit_answers_429_with_retry_after(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), limits={"requests_per_s": 0.01, "burst": 2})
    client = await aiohttp_client(create_app(settings))
    alice = Caller(client, await key(client, Role.USER, user_id="alice"))
    statuses = [(await alice("GET", "/v1/ping/")).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    resp = await alice("GET", "/v1/memories")
    await error(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) >= 1


async def test_docs_and_openapi_need_no_credential(enforced: TestClient) -> None:
    assert (await enforced.get("/openapi.json")).status == 200


async def test_exports_hold_and_show_only_the_callers_own_memories(callers: dict[str, Caller],
                                                                   enforced: TestClient) -> None:
    await add(callers["alice"], "alice's secret", user_id="alice")
    await add(callers["bob"], "bob's secret", user_id="bob")
    await error(await callers["alice"]("POST", "/v1/exports/", json={"user_id": "bob"}), 403, "FORBIDDEN")
    mine = await ok(await callers["alice"]("POST", "/v1/exports/", json={}))  # no scope: the key's own
    await enforced.app[SERVICE_KEY].exports.wait()
    body = await ok(await callers["alice"]("POST", "/v1/exports/get/", json={"memory_export_id": mine["id"]}))
    assert body["user_id"] == "alice" and [r["text"] for r in body["results"]] == ["alice's secret"]
    await error(await callers["bob"]("POST", "/v1/exports/get/", json={"memory_export_id": mine["id"]}),
                404, "NOT_FOUND")
    await error(await callers["bob"]("POST", "/v1/exports/get/", json={"user_id": "alice"}), 403, "FORBIDDEN")
    seen = await ok(await callers["admin"]("POST", "/v1/exports/get/", json={"id": mine["id"]}))
    assert seen["id"] == mine["id"]
