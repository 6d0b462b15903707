"""Memory exports through the REST facade (mem0's /v1/exports/ and /v1/exports/get/): a job is
created, runs in the background, and its result is the scope's memories, shaped by a schema
when one is given. The jobs are awaited through the service (no sleeping, no timing)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.keys import SERVICE_KEY
from app.settings import GraphSettings, Settings
from tests.rest.conftest import error, ok, remember


async def finished(client: TestClient, export_id: str) -> dict[str, Any]:
    await client.app[SERVICE_KEY].exports.wait()
    return await ok(await client.post("/v1/exports/get/", json={"memory_export_id": export_id}))


async def test_export_holds_the_scopes_memories_in_the_default_shape(client: TestClient) -> None:
    first = await remember(client, "I love pizza", metadata={"topic": "food"})
    await remember(client, "I live in Paris")
    await remember(client, "I play chess", user_id="bob")
    created = await ok(await client.post("/v1/exports/", json={"schema": None, "user_id": "alice"}))
    assert created["status"] == "queued" and created["id"]
    body = await finished(client, created["id"])
    assert body["status"] == "completed" and body["count"] == 2 and body["error"] is None
    assert body["user_id"] == "alice" and body["finished_at"]
    assert [r["text"] for r in body["results"]] == ["I love pizza", "I live in Paris"]  # oldest first
    one = body["results"][0]
    assert set(one) == {"id", "text", "user_id", "agent_id", "run_id", "metadata", "categories", "created_at",
                        "updated_at", "event_time", "expires_at", "feedback"}
    assert one["id"] == first and one["metadata"]["topic"] == "food" and one["user_id"] == "alice"
    assert one["feedback"] is None and one["expires_at"] is None


async def test_the_export_carries_each_memorys_feedback_and_expiry(client: TestClient) -> None:
    rated = await remember(client, "I love pizza", expiration_date="2999-01-31")
    await remember(client, "I live in Paris")
    await ok(await client.post("/v1/feedback/", json={"memory_id": rated, "feedback": "NEGATIVE",
                                                      "feedback_reason": "not true any more"}))
    created = await ok(await client.post("/v1/exports/", json={"user_id": "alice"}))
    by_text = {r["text"]: r for r in (await finished(client, created["id"]))["results"]}
    pizza, paris = by_text["I love pizza"], by_text["I live in Paris"]
    assert pizza["feedback"]["rating"] == "NEGATIVE" and pizza["feedback"]["reason"] == "not true any more"
    assert pizza["expires_at"].startswith("2999-02-01") and paris["feedback"] is None
    schema = {"properties": {"memory": {}, "feedback": {"properties": {"rating": {}}}}}
    created = await ok(await client.post("/v1/exports/", json={"user_id": "alice", "schema": schema}))
    shaped = (await finished(client, created["id"]))["results"]
    assert {"memory": "I love pizza", "feedback": {"rating": "NEGATIVE"}} in shaped


async def test_filters_narrow_the_export(client: TestClient) -> None:
    await remember(client, "I love pizza", metadata={"topic": "food"})
    await remember(client, "I live in Paris", metadata={"topic": "home"})
    created = await ok(await client.post("/v1/exports/", json={
        "filters": {"AND": [{"user_id": "alice"}, {"metadata": {"topic": "food"}}]}}))
    body = await finished(client, created["id"])
    assert [r["text"] for r in body["results"]] == ["I love pizza"]


async def test_a_schema_sets_exactly_the_properties_of_each_object(client: TestClient) -> None:
    await remember(client, "I love pizza", metadata={"topic": "food", "place": {"city": "Rome", "zip": "001"}},
                   categories=["food"])
    schema = {"type": "object", "properties": {
        "memory": {"type": "string"}, "topic": {"type": "string"}, "mood": {"type": "string"},
        "owner": {"type": "object", "properties": {"user_id": {}, "agent_id": {}}},
        "place": {"type": "object", "properties": {"city": {}}},
        "categories": {"type": "array", "items": {"type": "string"}},
    }}
    created = await ok(await client.post("/v1/exports/", json={"schema": schema, "user_id": "alice"}))
    (obj,) = (await finished(client, created["id"]))["results"]
    assert obj == {"memory": "I love pizza", "topic": "food", "mood": None,
                   "owner": {"user_id": "alice", "agent_id": None}, "place": {"city": "Rome"}, "categories": ["food"]}


async def test_the_schema_may_come_as_json_text(client: TestClient) -> None:
    await remember(client, "I love pizza")
    created = await ok(await client.post("/v1/exports/", json={
        "schema": '{"properties": {"id": {}, "memory": {}}}', "user_id": "alice"}))
    (obj,) = (await finished(client, created["id"]))["results"]
    assert set(obj) == {"id", "memory"}


@pytest.mark.parametrize("schema, says", [
    ({"type": "object"}, "properties"),
    ("not json", "JSON"),
    ({"properties": {"a": "string"}}, "'a'"),
])
async def test_an_unusable_schema_is_a_400(client: TestClient, schema: Any, says: str) -> None:
    detail = await error(await client.post("/v1/exports/", json={"schema": schema, "user_id": "alice"}),
                         400, "BAD_USER_INPUT")
    assert says in detail


async def test_get_without_an_id_answers_the_scopes_newest_export(client: TestClient) -> None:
    await remember(client, "I love pizza")
    await ok(await client.post("/v1/exports/", json={"user_id": "alice"}))
    newest = await ok(await client.post("/v1/exports/", json={"user_id": "alice", "schema": {"properties": {"id": {}}}}))
    await client.app[SERVICE_KEY].exports.wait()
    body = await ok(await client.post("/v1/exports/get/", json={"user_id": "alice"}))
    assert body["id"] == newest["id"] and set(body["results"][0]) == {"id"}
    await error(await client.post("/v1/exports/get/", json={"user_id": "nobody"}), 404, "NOT_FOUND")
    await error(await client.post("/v1/exports/get/", json={"memory_export_id": "no-such-export"}), 404, "NOT_FOUND")


class TestBounds:
    @pytest.fixture
    def service_settings(self, tmp_path: Path) -> Settings:
        return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        exports={"max_memories": 2}, memory={"max_limit": 1})  # pages of one memory

    async def test_an_export_beyond_max_memories_fails_and_says_why(self, client: TestClient) -> None:
        for text in ("I love pizza", "I live in Paris"):
            await remember(client, text)
        fits = await finished(client, (await ok(await client.post("/v1/exports/", json={"user_id": "alice"})))["id"])
        assert fits["status"] == "completed" and fits["count"] == 2  # read one page at a time
        await remember(client, "I play chess")
        body = await finished(client, (await ok(await client.post("/v1/exports/", json={"user_id": "alice"})))["id"])
        assert body["status"] == "failed" and body["results"] is None
        assert "more than 2 memories" in body["error"] and "max_memories" in body["error"]
        detail = await error(await client.get(f"/v1/exports/{body['id']}/download"), 409, "CONFLICT")
        assert "failed" in detail


async def test_a_completed_export_downloads_as_a_json_file(client: TestClient) -> None:
    await remember(client, "I love pizza")
    created = await ok(await client.post("/v1/exports/", json={"user_id": "alice"}))
    body = await finished(client, created["id"])
    resp = await client.get(f"/v1/exports/{created['id']}/download")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="agentmem-export-{created["id"]}.json"'
    assert await resp.json() == body["results"]
    await error(await client.get("/v1/exports/no-such-export/download"), 404, "NOT_FOUND")
