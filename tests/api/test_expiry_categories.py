"""Expiry and categories through GraphQL: addMemories' expiresAt / expirationDate, categories and
customCategories; updateMemory's expiry (null clears it) and categories; Memory.expiresAt and
Memory.categories; filters on both."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.ops import GQL, MEMORIES

ADD = """mutation($input: AddMemoriesInput!) {
  addMemories(input: $input) { changes { id memory { id categories expiresAt } } }
}"""
UPDATE = """mutation($input: UpdateMemoryInput!) { updateMemory(input: $input) { id categories expiresAt } }"""
UPDATE_MANY = """mutation($input: [UpdateMemoryInput!]!) { updateMemories(input: $input) { id } }"""
READ = "query($id: ID!) { memory(id: $id) { id categories expiresAt } }"


def add_input(text: str, **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], "scope": {"userId": "alice"}, "infer": False, **extra}


async def add(gql: GQL, text: str, **extra: object) -> dict[str, object]:
    return (await gql.data(ADD, input=add_input(text, **extra)))["addMemories"]["changes"][0]["memory"]


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


async def test_expires_at_and_expiration_date_on_add(gql: GQL) -> None:
    at = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    memory = await add(gql, "The meeting room is 4B today", expiresAt=at.isoformat())
    assert parse(memory["expiresAt"]) == at
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    memory = await add(gql, "My cousin visits this week", expirationDate=day.isoformat())
    assert parse(memory["expiresAt"]) == datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    assert (await add(gql, "I like tea"))["expiresAt"] is None


async def test_bad_expiries_are_refused_with_bad_user_input(gql: GQL) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = await gql(ADD, input=add_input("x y z", expiresAt=past))
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and "already passed" in body["errors"][0]["message"]
    both = await gql(ADD, input=add_input("x y z", expiresAt=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
                                           expirationDate="2099-01-01"))
    assert "not both" in both["errors"][0]["message"]


async def test_update_memory_moves_and_clears_the_expiry_and_sets_categories(gql: GQL) -> None:
    id = (await add(gql, "I am travelling to Rome next month"))["id"]
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    set_ = (await gql.data(UPDATE, input={"id": id, "expirationDate": day}))["updateMemory"]
    assert set_["expiresAt"] is not None
    kept = (await gql.data(UPDATE, input={"id": id, "metadata": {"k": 1}}))["updateMemory"]
    assert kept["expiresAt"] == set_["expiresAt"]
    cleared = (await gql.data(UPDATE, input={"id": id, "expiresAt": None, "categories": ["plans"]}))["updateMemory"]
    assert cleared["expiresAt"] is None and cleared["categories"] == ["plans"]
    refused = await gql(UPDATE_MANY, input=[{"id": id, "categories": ["x"]}])
    assert "updateMemory" in refused["errors"][0]["message"]


async def test_categories_are_filed_given_and_filtered(gql: GQL) -> None:
    food = (await add(gql, "I love eating sushi and ramen"))
    assert "food" in food["categories"]
    custom = [{"name": "billing", "description": "invoices, payments, refunds and prices"},
              {"name": "shipping", "description": "parcels, delivery and couriers"}]
    billed = await add(gql, "The refund for invoice 42 was paid", customCategories=custom)
    assert billed["categories"] == ["billing"]
    given = await add(gql, "Water the plants", categories=["chores", "home"])
    assert (await gql.data(READ, id=given["id"]))["memory"]["categories"] == ["chores", "home"]
    page = await gql.data(MEMORIES, scope={"userId": "alice"},
                          filter={"field": {"name": "categories", "contains": "chores"}})
    assert [n["id"] for n in page["memories"]["nodes"]] == [given["id"]]
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    expiring = await add(gql, "Parking in lot C today", expiresAt=at)
    page = await gql.data(MEMORIES, scope={"userId": "alice"}, filter={"field": {"name": "expiresAt", "ne": None}})
    assert [n["id"] for n in page["memories"]["nodes"]] == [expiring["id"]]
