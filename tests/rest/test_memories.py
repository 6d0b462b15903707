"""The REST endpoints in mem0's shapes, through the real app (development mode: an admin)."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.rest.conftest import error, ok, remember


async def test_add_answers_in_mem0s_shape(client: TestClient) -> None:
    body = await ok(await client.post("/v1/memories/", json={
        "messages": [{"role": "user", "content": "I live in Lisbon"}], "user_id": "alice", "infer": False,
        "metadata": {"topic": "home"},
    }))
    (item,) = body["results"]
    assert item["event"] == "ADD" and item["memory"] == "I live in Lisbon" and item["previous_memory"] is None
    assert body["relations"] == {"added_entities": [], "deleted_entities": []}
    assert body["graph_pending"] is False and body["stored_raw"] is False


async def test_add_accepts_a_string_and_the_v3_path_with_the_owner_in_filters(client: TestClient) -> None:
    body = await ok(await client.post("/v3/memories/add/", json={
        "messages": "I like tea", "filters": {"user_id": "bob", "agent_id": "barista"}, "infer": False,
    }))
    memory = await ok(await client.get(f"/v1/memories/{body['results'][0]['id']}/"))
    assert (memory["user_id"], memory["agent_id"], memory["run_id"]) == ("bob", "barista", None)


async def test_add_with_inference_uses_the_builtin_extractor(client: TestClient) -> None:
    body = await ok(await client.post("/v1/memories", json={
        "messages": [{"role": "user", "content": "My name is Ana and I work at Acme."}], "user_id": "ana",
    }))
    assert body["results"] and all(r["event"] in ("ADD", "UPDATE", "NONE") for r in body["results"])


async def test_get_returns_every_field(client: TestClient) -> None:
    id = await remember(client, "I have a cat named Miso", metadata={"pet": "cat"}, run_id="r1")
    memory = await ok(await client.get(f"/v1/memories/{id}"))
    assert memory["id"] == id and memory["memory"] == "I have a cat named Miso"
    assert memory["metadata"]["pet"] == "cat" and memory["run_id"] == "r1" and memory["user_id"] == "alice"
    assert len(memory["hash"]) == 32 and memory["created_at"] and memory["updated_at"]
    assert "family" in memory["categories"] and memory["invalidated_at"] is None  # a cat: pets at home
    assert memory["expiration_date"] is None


async def test_update_changes_text_and_metadata_and_history_records_it(client: TestClient) -> None:
    id = await remember(client, "I drive a red car")
    updated = await ok(await client.put(f"/v1/memories/{id}/", json={"text": "I drive a blue car"}))
    assert updated["memory"] == "I drive a blue car" and updated["message"]
    updated = await ok(await client.put(f"/v1/memories/{id}", json={"metadata": {"colour": "blue"}}))
    assert updated["metadata"] == {"colour": "blue"} and updated["memory"] == "I drive a blue car"
    history = await ok(await client.get(f"/v1/memories/{id}/history/"))
    assert [h["event"] for h in history][:2] == ["ADD", "UPDATE"]
    assert history[1]["old_memory"] == "I drive a red car" and history[1]["new_memory"] == "I drive a blue car"
    assert all(h["memory_id"] == id and h["user_id"] == "alice" for h in history)
    assert len({h["id"] for h in history}) == len(history)


async def test_update_needs_text_or_metadata(client: TestClient) -> None:
    id = await remember(client, "I drive a red car")
    assert "expiration_date and/or categories" in await error(await client.put(f"/v1/memories/{id}", json={}), 400, "BAD_USER_INPUT")


async def test_delete_removes_one_memory(client: TestClient) -> None:
    id = await remember(client, "temporary")
    body = await ok(await client.delete(f"/v1/memories/{id}/"))
    assert body["id"] == id and body["message"]
    await error(await client.get(f"/v1/memories/{id}"), 404, "NOT_FOUND")
    history = await ok(await client.get(f"/v1/memories/{id}/history"))
    assert history[-1]["event"] == "DELETE" and history[-1]["is_deleted"] is True


async def test_delete_all_takes_a_scope_from_the_query_or_filters(client: TestClient) -> None:
    await remember(client, "a", user_id="u1")
    await remember(client, "b", user_id="u1", agent_id="x")
    await remember(client, "c", user_id="u2")
    assert (await ok(await client.delete("/v1/memories/", params={"user_id": "u1"})))["deleted"] == 2
    # MemoryClient.delete_all(filters=...) sends the dict's Python text; JSON works too
    assert (await ok(await client.delete("/v1/memories", params={"filters": str({"user_id": "u2"})})))["deleted"] == 1
    assert (await ok(await client.delete("/v1/memories", params={"filters": '{"user_id": "u3"}'})))["deleted"] == 0


@pytest.mark.parametrize("params", [{}, {"filters": "{}"}, {"filters": '{"user_id": {"in": ["a"]}}'},
                                    {"filters": "[1]"}, {"filters": "__import__('os')"}])
async def test_delete_all_refuses_anything_but_an_owner(client: TestClient, params: dict[str, str]) -> None:
    await error(await client.delete("/v1/memories", params=params), 400, "BAD_USER_INPUT")


async def test_reset_deletes_everything(client: TestClient) -> None:
    await remember(client, "a", user_id="u1")
    await remember(client, "b", user_id="u2")
    assert (await ok(await client.delete("/v1/memories/reset/")))["message"]
    assert (await ok(await client.get("/v1/memories")))["results"] == []


async def test_entities_list_owners_with_counts_and_delete_one(client: TestClient) -> None:
    await remember(client, "a", user_id="u1", agent_id="bot")
    await remember(client, "b", user_id="u1", run_id="r9")
    await remember(client, "c", user_id="u2")
    body = await ok(await client.get("/v1/entities/"))
    found = {(e["type"], e["name"]): e["total_memories"] for e in body["results"]}
    assert found == {("user", "u1"): 2, ("user", "u2"): 1, ("agent", "bot"): 1, ("run", "r9"): 1}
    assert (await ok(await client.delete("/v2/entities/user/u1/")))["deleted"] == 2
    body = await ok(await client.get("/v1/entities"))
    assert [(e["type"], e["name"]) for e in body["results"]] == [("user", "u2")]
    await error(await client.delete("/v2/entities/app/x/"), 400, "BAD_USER_INPUT")


async def test_ping_names_the_credential(client: TestClient) -> None:
    body = await ok(await client.get("/v1/ping/"))
    assert body["status"] == "ok" and body["role"] == "admin"
    # mem0's MemoryClient will not start unless both are set
    assert body["org_id"] and body["project_id"]


async def test_mem0_timestamp_sets_when_the_memory_happened(client: TestClient) -> None:
    body = await ok(await client.post("/v1/memories", json={"messages": "Trip to Oslo", "user_id": "alice",
                                                            "infer": False, "timestamp": 1683554160}))
    got = await ok(await client.get(f"/v1/memories/{body['results'][0]['id']}"))
    assert got["occurred_at"].startswith("2023-05-08T13:56:00")
    assert "timestamp" in await error(await client.post("/v1/memories", json={
        "messages": "x", "user_id": "alice", "timestamp": "not a time"}), 400, "BAD_USER_INPUT")
