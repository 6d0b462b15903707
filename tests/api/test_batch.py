"""updateMemories, deleteMemoriesByIds and immutable memories through the real app's GraphQL."""
from __future__ import annotations

from tests.api.ops import ADD, GQL, add_input

UPDATE_MANY = """
mutation($input: [UpdateMemoryInput!]!) { updateMemories(input: $input) { id text metadata immutable updatedAt } }"""
DELETE_MANY = "mutation($ids: [ID!]!) { deleteMemoriesByIds(ids: $ids) { id text } }"
UPDATE_ONE = "mutation($id: ID!, $text: String) { updateMemory(input: {id: $id, text: $text}) { id text } }"
GET = "query($id: ID!) { memory(id: $id) { id text immutable history { event oldText newText } } }"


async def add(gql: GQL, text: str, **extra: object) -> str:
    data = await gql.data(ADD, input=add_input(text, **extra))
    return data["addMemories"]["changes"][0]["id"]


async def test_update_memories_changes_every_item_and_records_history(gql: GQL) -> None:
    a, b = await add(gql, "I like tea"), await add(gql, "I live in Paris")
    data = await gql.data(UPDATE_MANY, input=[{"id": a, "text": "I like green tea"},
                                              {"id": b, "metadata": {"source": "batch"}}])
    assert [(m["id"], m["text"], m["metadata"]) for m in data["updateMemories"]] == [
        (a, "I like green tea", {"role": "user"}), (b, "I live in Paris", {"source": "batch"})]
    memory = (await gql.data(GET, id=a))["memory"]
    assert [(h["event"], h["oldText"], h["newText"]) for h in memory["history"]] == [
        ("ADD", None, "I like tea"), ("UPDATE", "I like tea", "I like green tea")]


async def test_a_refused_batch_changes_nothing_and_says_which_items_and_why(gql: GQL) -> None:
    a = await add(gql, "I like tea")
    frozen = await add(gql, "My blood type is O+", immutable=True)
    body = await gql(UPDATE_MANY, input=[{"id": a, "text": "I like coffee"}, {"id": "missing", "text": "x"},
                                         {"id": frozen, "text": "O-"}, {"id": a, "text": "twice"}])
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [(i["index"], i["id"], i["code"]) for i in error["extensions"]["items"]] == [
        (1, "missing", "NOT_FOUND"), (2, frozen, "IMMUTABLE"), (3, a, "BAD_USER_INPUT")]
    assert "nothing was changed" in error["message"]
    assert (await gql.data(GET, id=a))["memory"]["text"] == "I like tea"


async def test_delete_memories_by_ids_is_all_or_nothing(gql: GQL) -> None:
    a, b = await add(gql, "I like tea"), await add(gql, "I live in Paris")
    body = await gql(DELETE_MANY, ids=[a, "missing"])
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["errors"][0]["extensions"]["items"] == [
        {"index": 1, "id": "missing", "code": "NOT_FOUND", "message": "memory 'missing' does not exist"}]
    assert (await gql.data(GET, id=a))["memory"]["id"] == a
    gone = (await gql.data(DELETE_MANY, ids=[a, b]))["deleteMemoriesByIds"]
    assert [(m["id"], m["text"]) for m in gone] == [(a, "I like tea"), (b, "I live in Paris")]
    for id in (a, b):
        assert (await gql(GET, id=id))["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_more_than_a_thousand_items_are_refused(gql: GQL) -> None:
    body = await gql(DELETE_MANY, ids=[f"m{i}" for i in range(1001)])
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "1 to 1000 items" in body["errors"][0]["message"]


async def test_an_immutable_memory_is_shown_refuses_updates_and_can_be_deleted(gql: GQL) -> None:
    frozen = await add(gql, "My blood type is O+", immutable=True)
    plain = await add(gql, "I like tea")
    assert (await gql.data(GET, id=frozen))["memory"]["immutable"] is True
    assert (await gql.data(GET, id=plain))["memory"]["immutable"] is False
    body = await gql(UPDATE_ONE, id=frozen, text="O-")
    assert body["errors"][0]["extensions"]["code"] == "IMMUTABLE"
    assert "immutable" in body["errors"][0]["message"]
    assert (await gql.data(GET, id=frozen))["memory"]["text"] == "My blood type is O+"
    assert (await gql.data(DELETE_MANY, ids=[frozen]))["deleteMemoriesByIds"][0]["id"] == frozen
