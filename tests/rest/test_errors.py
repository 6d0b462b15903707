"""Every REST failure is JSON `{"detail", "code"}` with the right status; nothing a client sends
is a 500."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.settings import Settings
from memory import errors
from memory.guarded import GuardedMemoryService
from tests.rest.conftest import error, remember


async def test_an_unknown_path_is_a_json_404(client: TestClient) -> None:
    await error(await client.get("/v1/nothing-here"), 404, "NOT_FOUND")


async def test_a_wrong_method_is_a_json_405_with_allow(client: TestClient) -> None:
    resp = await client.patch("/v1/memories")
    await error(resp, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST", "DELETE"} <= set(resp.headers["Allow"].replace(" ", "").split(","))


async def test_a_missing_memory_is_a_404(client: TestClient) -> None:
    for resp in (await client.get("/v1/memories/nope"), await client.put("/v1/memories/nope", json={"text": "x"}),
                 await client.delete("/v1/memories/nope/"), await client.get("/v1/memories/nope/history/")):
        assert "nope" in await error(resp, 404, "NOT_FOUND")


async def test_malformed_json_is_a_400(client: TestClient) -> None:
    resp = await client.post("/v1/memories", data=b'{"messages": ', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in await error(resp, 400, "BAD_USER_INPUT")
    resp = await client.post("/v1/memories", data=b'{"messages": NaN}', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in await error(resp, 400, "BAD_USER_INPUT")


async def test_a_body_that_is_not_json_is_a_415(client: TestClient) -> None:
    resp = await client.post("/v1/memories", data=b"messages=hi", headers={"Content-Type": "text/plain"})
    assert "application/json" in await error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_an_oversize_body_is_a_413(client: TestClient, service_settings: Settings) -> None:
    big = b'{"messages": "' + b"x" * service_settings.max_body_bytes + b'"}'
    resp = await client.post("/v1/memories", data=big, headers={"Content-Type": "application/json"})
    await error(resp, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("body", [[1, 2], "text", 3, None])
async def test_a_body_that_is_not_an_object_is_a_400(client: TestClient, body: Any) -> None:
    await error(await client.post("/v1/memories/search", json=body), 400, "BAD_USER_INPUT")


async def test_validation_errors_list_each_field(client: TestClient) -> None:
    resp = await client.post("/v1/memories", json={"messages": [{"role": "user"}], "user_id": 5, "extra": 1})
    assert resp.status == 400
    body = await resp.json()
    locations = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "extra") in locations and ("body", "user_id") in locations
    assert any(loc[:2] == ("body", "messages") for loc in locations)


async def test_unknown_or_repeated_query_parameters_are_a_400(client: TestClient) -> None:
    assert "surprise" in await error(await client.get("/v1/memories", params={"surprise": "1"}), 400, "BAD_USER_INPUT")
    assert "surprise" in await error(await client.get("/v1/ping", params={"surprise": "1"}), 400, "BAD_USER_INPUT")
    resp = await client.get("/v1/memories?user_id=a&user_id=b")
    assert "2 times" in await error(resp, 400, "BAD_USER_INPUT")


async def test_refused_mem0_options_say_why(client: TestClient) -> None:
    id = await remember(client, "x")
    resp = await client.put(f"/v1/memories/{id}", json={"text": "y", "timestamp": 1700000000})
    assert "times are kept" in await error(resp, 400, "BAD_USER_INPUT")
    resp = await client.delete(f"/v1/memories/{id}", params={"delete_linked": "true"})
    assert "delete_linked" in await error(resp, 400, "BAD_USER_INPUT")
    resp = await client.post("/v1/memories", json={"messages": "x", "user_id": "a", "org_id": "o1"})
    assert "organisations" in await error(resp, 400, "BAD_USER_INPUT")
    resp = await client.post("/v1/memories", json={"messages": "x", "user_id": "a", "filters": {"topic": "x"}})
    assert "owner's ids only" in await error(resp, 400, "BAD_USER_INPUT")
    resp = await client.post("/v1/memories", json={"messages": "x", "user_id": "a", "prompt": "p",
                                                   "custom_instructions": "q"})
    assert "same setting" in await error(resp, 400, "BAD_USER_INPUT")


async def test_reserved_words_are_not_memory_ids(client: TestClient) -> None:
    await error(await client.put("/v1/memories/search", json={"text": "x"}), 400, "BAD_USER_INPUT")


@pytest.mark.parametrize("exc, status, code", [
    (errors.InvalidInput("bad"), 400, "BAD_USER_INPUT"),
    (errors.Unauthenticated("who?"), 401, "UNAUTHENTICATED"),
    (errors.Forbidden("no"), 403, "FORBIDDEN"),
    (errors.NotFound("gone"), 404, "NOT_FOUND"),
    (errors.Conflict("clash"), 409, "CONFLICT"),
    (errors.RateLimited(2.2), 429, "RATE_LIMITED"),
    (errors.ProviderError("llm said no"), 502, "PROVIDER_ERROR"),
    (errors.StoreUnavailable("sql"), 503, "SERVICE_UNAVAILABLE"),
])
async def test_the_core_error_tree_maps_once_to_http(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                     exc: Exception, status: int, code: str) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(GuardedMemoryService, "get", fail)
    resp = await client.get("/v1/memories/some-id")
    await error(resp, status, code)
    if status == 429:
        assert resp.headers["Retry-After"] == "3"
    if status == 401:
        assert "Token" in resp.headers["WWW-Authenticate"]


async def test_a_bug_is_a_bare_500_and_is_logged(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    async def bug(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("secret internals")

    monkeypatch.setattr(GuardedMemoryService, "get", bug)
    with caplog.at_level(logging.ERROR, logger="app.rest"):
        resp = await client.get("/v1/memories/some-id")
    detail = await error(resp, 500, "INTERNAL_SERVER_ERROR")
    assert "secret" not in detail
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize("depth", [40, 600, 5000])
async def test_deeply_nested_input_is_a_400_never_a_500(client: TestClient, depth: int) -> None:
    meta = '{"a":' * depth + "1" + "}" * depth
    body = '{"messages": "x", "user_id": "u", "infer": false, "metadata": ' + meta + "}"
    resp = await client.post("/v1/memories", data=body.encode(), headers={"Content-Type": "application/json"})
    assert "nested" in await error(resp, 400, "BAD_USER_INPUT")
    deep = '{"NOT":' * depth + '{"a":1}' + "}" * depth
    resp = await client.post("/v2/memories/", data=('{"filters":' + deep + "}").encode(),
                             headers={"Content-Type": "application/json"})
    await error(resp, 400, "BAD_USER_INPUT")
    in_query = min(depth, 300)  # aiohttp refuses request lines over 8 kB before the app sees them
    resp = await client.delete("/v1/memories", params={"filters": '{"a":' * in_query + "1" + "}" * in_query})
    await error(resp, 400, "BAD_USER_INPUT")


async def test_metadata_a_little_nested_is_fine(client: TestClient) -> None:
    meta = {"a": {"b": {"c": [1, {"d": "e"}]}}}
    id = await remember(client, "x", metadata=meta)
    assert (await (await client.get(f"/v1/memories/{id}")).json())["metadata"]["a"] == meta["a"]
