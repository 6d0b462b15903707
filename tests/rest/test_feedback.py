"""mem0's feedback endpoint, `timestamp` bounds and `includes` / `excludes` on add, through the
real app (development mode: an admin); with an LLM, the local fake OpenAI server answers."""
from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from app.settings import GraphSettings, LLMSettings, Settings
from app.web import create_app
from tests.fixtures.openai_fake import FakeOpenAI
from tests.rest.conftest import ClientFactory, error, ok, remember

READ = "query($id: ID!) { memory(id: $id) { feedback { rating reason } } }"


async def feedback_of(client: TestClient, id: str) -> object:
    resp = await client.post("/graphql", json={"query": READ, "variables": {"id": id}})
    return (await resp.json())["data"]["memory"]["feedback"]


async def test_feedback_is_stored_readable_and_cleared(client: TestClient) -> None:
    id = await remember(client, "I like tea")
    body = await ok(await client.post("/v1/feedback/", json={"memory_id": id, "feedback": "NEGATIVE",
                                                             "feedback_reason": "I switched to coffee"}))
    assert body == {"id": id, "feedback": "NEGATIVE", "feedback_reason": "I switched to coffee"}
    assert await feedback_of(client, id) == {"rating": "NEGATIVE", "reason": "I switched to coffee"}
    body = await ok(await client.post("/v1/feedback", json={"memory_id": id, "feedback": "very_negative"}))
    assert body["feedback"] == "VERY_NEGATIVE" and body["feedback_reason"] is None
    body = await ok(await client.post("/v1/feedback", json={"memory_id": id, "feedback": None}))
    assert body["feedback"] is None and await feedback_of(client, id) is None


async def test_bad_feedback_is_a_4xx_with_a_reason(client: TestClient) -> None:
    id = await remember(client, "I like tea")
    await error(await client.post("/v1/feedback/", json={"memory_id": "nope", "feedback": "POSITIVE"}), 404, "NOT_FOUND")
    assert "feedback" in await error(await client.post("/v1/feedback/", json={"memory_id": id, "feedback": "GREAT"}),
                                     400, "BAD_USER_INPUT")
    await error(await client.post("/v1/feedback/", json={"memory_id": id, "feedback": "POSITIVE",
                                                         "feedback_reason": "x" * 2001}), 400, "BAD_USER_INPUT")
    assert await feedback_of(client, id) is None


async def test_a_deleted_memory_takes_its_feedback(client: TestClient) -> None:
    id = await remember(client, "I like tea")
    await ok(await client.post("/v1/feedback/", json={"memory_id": id, "feedback": "POSITIVE"}))
    await ok(await client.delete(f"/v1/memories/{id}/", params={"purge": "true"}))
    await error(await client.post("/v1/feedback/", json={"memory_id": id, "feedback": "POSITIVE"}), 404, "NOT_FOUND")


async def test_an_absurd_timestamp_is_refused(client: TestClient) -> None:
    for absurd in (-5_000_000_000, 4_102_444_800, "1500-01-01T00:00:00Z"):  # 1811, 2100, 1500
        detail = await error(await client.post("/v1/memories/", json={
            "messages": "x", "user_id": "alice", "infer": False, "timestamp": absurd}), 400, "BAD_USER_INPUT")
        assert "out of range" in detail
    assert (await ok(await client.get("/v1/memories/", params={"user_id": "alice"})))["results"] == []


async def test_includes_and_excludes_without_an_llm_say_an_llm_is_needed(client: TestClient) -> None:
    for name in ("includes", "excludes"):
        detail = await error(await client.post("/v1/memories/", json={
            "messages": "I like tea", "user_id": "alice", name: "food"}), 400, "BAD_USER_INPUT")
        assert "needs an LLM" in detail


async def test_includes_and_excludes_reach_the_llms_extraction_prompt(
    aiohttp_client: ClientFactory, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        llm=LLMSettings(base_url=fake_openai.base_url, api_key="sk-test", model="fake-model"))
    client = await aiohttp_client(create_app(settings))
    fake_openai.script_chat([json.dumps({"facts": ["Plays tennis on Sundays"], "relations": []})])
    body = await ok(await client.post("/v1/memories/", json={
        "messages": [{"role": "user", "content": "I play tennis on Sundays; my knee surgery is in May"}],
        "user_id": "alice", "includes": "sports and hobbies", "excludes": "medical details"}))
    assert [r["memory"] for r in body["results"]] == ["Plays tennis on Sundays"]
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "Only remember facts about: sports and hobbies" in system
    assert "Never remember facts about (leave them out even when stated): medical details" in system
    listed = await ok(await client.get("/v1/memories/", params={"user_id": "alice"}))
    assert [m["memory"] for m in listed["results"]] == ["Plays tennis on Sundays"]
