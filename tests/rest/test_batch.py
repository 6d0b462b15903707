"""PUT / DELETE /v1/batch/ and immutable memories in mem0's REST shapes, through the real app."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.rest.conftest import error, ok, remember


async def test_batch_update_answers_every_memory_as_it_now_is(client: TestClient) -> None:
    a, b = await remember(client, "I like tea"), await remember(client, "I live in Paris")
    body = await ok(await client.put("/v1/batch/", json={"memories": [
        {"memory_id": a, "text": "I like green tea"}, {"memory_id": b, "metadata": {"source": "batch"}}]}))
    assert body["message"] == "Successfully updated 2 memories"
    assert [(m["id"], m["memory"]) for m in body["results"]] == [(a, "I like green tea"), (b, "I live in Paris")]
    assert (await ok(await client.get(f"/v1/memories/{b}")))["metadata"] == {"source": "batch"}
    history = await ok(await client.get(f"/v1/memories/{a}/history"))
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history][-1] == (
        "UPDATE", "I like tea", "I like green tea")


async def test_a_refused_batch_lists_each_item_refused_and_changes_nothing(client: TestClient) -> None:
    a = await remember(client, "I like tea")
    frozen = await remember(client, "My blood type is O+", immutable=True)
    resp = await client.put("/v1/batch", json={"memories": [
        {"memory_id": a, "text": "I like coffee"}, {"memory_id": "missing", "text": "x"},
        {"memory_id": frozen, "text": "O-"}]})
    assert resp.status == 400
    body = await resp.json()
    assert body["code"] == "BAD_USER_INPUT" and "nothing was changed" in body["detail"]
    assert [(e["loc"], e["code"], e["memory_id"]) for e in body["errors"]] == [
        (["body", "memories", 1], "NOT_FOUND", "missing"), (["body", "memories", 2], "IMMUTABLE", frozen)]
    assert (await ok(await client.get(f"/v1/memories/{a}")))["memory"] == "I like tea"


async def test_batch_delete_is_all_or_nothing(client: TestClient) -> None:
    a, b = await remember(client, "I like tea"), await remember(client, "I live in Paris")
    resp = await client.delete("/v1/batch/", json={"memories": [{"memory_id": a}, {"memory_id": "missing"}]})
    assert "missing" in await error(resp, 404, "NOT_FOUND")
    await ok(await client.get(f"/v1/memories/{a}"))
    body = await ok(await client.delete("/v1/batch/", json={"memories": [{"memory_id": a}, {"memory_id": b}]}))
    assert body["deleted"] == 2 and body["ids"] == [a, b]
    await error(await client.get(f"/v1/memories/{b}"), 404, "NOT_FOUND")


async def test_batches_are_checked_before_anything_runs(client: TestClient) -> None:
    a = await remember(client, "I like tea")
    too_many = {"memories": [{"memory_id": f"m{i}"} for i in range(1001)]}
    assert "at most 1000" in await error(await client.delete("/v1/batch/", json=too_many), 400, "BAD_USER_INPUT")
    await error(await client.put("/v1/batch/", json={"memories": []}), 400, "BAD_USER_INPUT")
    await error(await client.put("/v1/batch/", json={"memories": [{"memory_id": a, "text": ""}]}), 400,
                "BAD_USER_INPUT")
    await error(await client.put("/v1/batch/", json={"memories": [{"memory_id": a, "txt": "typo"}]}), 400,
                "BAD_USER_INPUT")
    await error(await client.put("/v1/batch/", json={"memories": [{"memory_id": a}]}), 400, "BAD_USER_INPUT")
    assert (await ok(await client.get(f"/v1/memories/{a}")))["memory"] == "I like tea"


async def test_an_immutable_memory_is_marked_refuses_updates_and_can_be_deleted(client: TestClient) -> None:
    frozen = await remember(client, "My blood type is O+", immutable=True)
    plain = await remember(client, "I like tea")
    assert (await ok(await client.get(f"/v1/memories/{frozen}")))["immutable"] is True
    assert (await ok(await client.get(f"/v1/memories/{plain}")))["immutable"] is False
    detail = await error(await client.put(f"/v1/memories/{frozen}", json={"text": "O-"}), 409, "IMMUTABLE")
    assert "delete it and add it again" in detail
    await ok(await client.delete(f"/v1/memories/{frozen}"))
    await error(await client.get(f"/v1/memories/{frozen}"), 404, "NOT_FOUND")
