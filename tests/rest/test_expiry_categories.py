"""mem0's expiration_date and categories through REST (local embedder: categories by meaning).
Memories leaving reads at their expiry is tested with a fake clock in tests/unit/test_expiry.py
and tests/integration/test_expiry_categories_sql.py; here: the shapes, the checks, the filters."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient

from app.bootstrap import service_options
from app.settings import GraphSettings, Settings
from app.web import create_app
from tests.rest.conftest import error, ok, remember


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


async def test_expiration_date_is_stored_as_the_end_of_that_day(client: TestClient) -> None:
    day = tomorrow()
    id = await remember(client, "My parking spot is B12 this week", expiration_date=day)
    memory = await ok(await client.get(f"/v1/memories/{id}"))
    end = datetime.fromisoformat(day) + timedelta(days=1)
    assert datetime.fromisoformat(memory["expiration_date"].replace("Z", "+00:00")) == end.replace(tzinfo=UTC)
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    id2 = await remember(client, "The door code is 1234 today", expiration_date=at.isoformat())
    got = await ok(await client.get(f"/v1/memories/{id2}"))
    assert datetime.fromisoformat(got["expiration_date"].replace("Z", "+00:00")) == at


async def test_a_past_or_malformed_expiration_date_is_a_400(client: TestClient) -> None:
    body = {"messages": "x y z", "user_id": "alice", "infer": False}
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    said = await error(await client.post("/v1/memories", json={**body, "expiration_date": yesterday}), 400,
                       "BAD_USER_INPUT")
    assert "already passed" in said
    said = await error(await client.post("/v1/memories", json={**body, "expiration_date": "next week"}), 400,
                       "BAD_USER_INPUT")
    assert "YYYY-MM-DD" in said
    assert (await ok(await client.get("/v1/memories", params={"user_id": "alice"})))["results"] == []


async def test_update_sets_and_clears_the_expiration_date(client: TestClient) -> None:
    id = await remember(client, "I am on call this weekend")
    updated = await ok(await client.put(f"/v1/memories/{id}", json={"expiration_date": tomorrow()}))
    assert updated["expiration_date"] is not None and updated["memory"] == "I am on call this weekend"
    kept = await ok(await client.put(f"/v1/memories/{id}", json={"metadata": {"k": 1}}))
    assert kept["expiration_date"] == updated["expiration_date"]
    cleared = await ok(await client.put(f"/v1/memories/{id}", json={"expiration_date": None}))
    assert cleared["expiration_date"] is None


async def test_memories_are_filed_by_meaning_and_filtered_by_category(client: TestClient) -> None:
    food = await remember(client, "I love eating sushi and ramen")
    sport = await remember(client, "I play tennis every Saturday")
    assert "food" in (await ok(await client.get(f"/v1/memories/{food}")))["categories"]
    assert "sports" in (await ok(await client.get(f"/v1/memories/{sport}")))["categories"]
    listed = await ok(await client.get("/v1/memories", params={"user_id": "alice", "categories": "sports"}))
    assert [m["id"] for m in listed["results"]] == [sport]
    found = await ok(await client.post("/v2/memories/search", json={
        "query": "what do I like", "filters": {"AND": [{"user_id": "alice"}, {"categories": {"in": ["food"]}}]}}))
    assert [m["id"] for m in found["results"]] == [food]


async def test_custom_categories_and_explicit_categories_on_add(client: TestClient) -> None:
    custom = [{"billing": "invoices, payments, refunds and prices"}, {"shipping": "parcels, delivery and couriers"}]
    id = await remember(client, "The refund for invoice 42 was paid", custom_categories=custom)
    assert (await ok(await client.get(f"/v1/memories/{id}")))["categories"] == ["billing"]
    mine = await remember(client, "Water the plants", categories=["chores"])
    assert (await ok(await client.get(f"/v1/memories/{mine}")))["categories"] == ["chores"]
    bad = await client.post("/v1/memories", json={"messages": "x y z", "user_id": "alice", "infer": False,
                                                  "custom_categories": [{"a": "x", "b": "y"}]})
    assert "one pair each" in await error(bad, 400, "BAD_USER_INPUT")
    changed = await ok(await client.put(f"/v1/memories/{mine}", json={"categories": ["garden"]}))
    assert changed["categories"] == ["garden"]


async def test_the_configured_set_replaces_the_default_one(aiohttp_client, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        memory={"categories": {"billing": "invoices, payments, refunds and prices",
                                               "shipping": "parcels, delivery and couriers"},
                                "expiry_action": "delete"})
    options = service_options(settings)
    assert options.expiry_action == "delete" and [c.name for c in options.categories] == ["billing", "shipping"]
    client = await aiohttp_client(create_app(settings))
    id = await remember(client, "The courier lost my parcel")
    assert (await ok(await client.get(f"/v1/memories/{id}")))["categories"] == ["shipping"]
