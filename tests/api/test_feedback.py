"""Feedback on memories, event times and extraction instructions through GraphQL, with
development auth (tests/api/conftest.py) and with real credentials of two users."""
from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

from aiohttp.test_utils import TestClient

from app.web import create_app
from tests.api.authkit import Caller, error_code, make_key, secure_settings
from tests.api.ops import ADD, GQL, add_input

ClientFactory = Callable[..., Awaitable[TestClient]]

GIVE = """mutation($input: GiveFeedbackInput!) {
  giveFeedback(input: $input) { id text feedback { rating reason actor createdAt } }
}"""
READ = "query($id: ID!) { memory(id: $id) { id feedback { rating reason } } }"
DELETE = "mutation($id: ID!, $purge: Boolean!) { deleteMemory(id: $id, purge: $purge) { id } }"


async def add(gql: GQL, text: str, **extra: object) -> str:
    return (await gql.data(ADD, input=add_input(text, **extra)))["addMemories"]["changes"][0]["id"]


async def test_feedback_is_given_read_replaced_and_cleared(gql: GQL) -> None:
    id = await add(gql, "I like tea")
    assert (await gql.data(READ, id=id))["memory"]["feedback"] is None
    given = (await gql.data(GIVE, input={"memoryId": id, "feedback": "NEGATIVE", "reason": "I prefer coffee"}))
    fb = given["giveFeedback"]["feedback"]
    assert (fb["rating"], fb["reason"]) == ("NEGATIVE", "I prefer coffee") and fb["createdAt"].startswith("20")
    assert (await gql.data(READ, id=id))["memory"]["feedback"] == {"rating": "NEGATIVE", "reason": "I prefer coffee"}
    await gql.data(GIVE, input={"memoryId": id, "feedback": "VERY_NEGATIVE"})
    assert (await gql.data(READ, id=id))["memory"]["feedback"] == {"rating": "VERY_NEGATIVE", "reason": None}
    cleared = await gql.data(GIVE, input={"memoryId": id, "feedback": None})
    assert cleared["giveFeedback"]["feedback"] is None
    assert (await gql.data(READ, id=id))["memory"]["feedback"] is None


async def test_feedback_on_a_page_of_memories_reads_in_one_batch(gql: GQL) -> None:
    ids = [await add(gql, f"fact {i}") for i in range(3)]
    await gql.data(GIVE, input={"memoryId": ids[1], "feedback": "POSITIVE"})
    page = await gql.data("{ memories(first: 10, orderBy: CREATED_ASC) { nodes { id feedback { rating } } } }")
    assert [n["feedback"] for n in page["memories"]["nodes"]] == [None, {"rating": "POSITIVE"}, None]


async def test_bad_feedback_is_a_clear_error(gql: GQL) -> None:
    id = await add(gql, "I like tea")
    unknown = await gql(GIVE, input={"memoryId": "no-such-memory", "feedback": "POSITIVE"})
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    long = await gql(GIVE, input={"memoryId": id, "feedback": "POSITIVE", "reason": "x" * 2001})
    assert long["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and "2000" in long["errors"][0]["message"]
    odd = await gql(GIVE, input={"memoryId": id, "feedback": "GREAT"})
    assert "errors" in odd and "GREAT" in odd["errors"][0]["message"]


async def test_deleting_a_memory_removes_its_feedback(gql: GQL) -> None:
    for purge in (False, True):
        id = await add(gql, f"I like tea (purge={purge})")
        await gql.data(GIVE, input={"memoryId": id, "feedback": "NEGATIVE", "reason": "private reason"})
        await gql.data(DELETE, id=id, purge=purge)
        assert await gql.service.feedback([id]) == {}


async def test_occurred_at_is_kept_and_absurd_times_are_refused(gql: GQL) -> None:
    data = await gql.data(ADD.replace("valid }", "valid occurredAt }"),
                          input=add_input("I ran a marathon", occurredAt="2023-05-01T12:00:00Z"))
    assert data["addMemories"]["changes"][0]["memory"]["occurredAt"].startswith("2023-05-01T12:00:00")
    for absurd in ("1066-10-14T00:00:00Z", "2999-01-01T00:00:00Z"):
        body = await gql(ADD, input=add_input("I ran", occurredAt=absurd))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "out of range" in body["errors"][0]["message"]


async def test_includes_and_excludes_without_an_llm_are_refused_saying_why(gql: GQL) -> None:
    for field in ("includes", "excludes"):
        body = await gql(ADD, input=add_input("I like tea", infer=True, **{field: "food"}))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "needs an LLM" in body["errors"][0]["message"]


async def test_feedback_respects_who_may_see_a_memory(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path)))
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    bob = Caller(client, await make_key(client.app, "user", user_id="bob"))
    added = await alice.data(ADD, input=add_input("I like tea", "alice"))
    id = added["addMemories"]["changes"][0]["id"]
    status, body = await bob.post(GIVE, input={"memoryId": id, "feedback": "VERY_NEGATIVE"})
    assert error_code(body) == "NOT_FOUND"
    given = await alice.data(GIVE, input={"memoryId": id, "feedback": "POSITIVE"})
    assert given["giveFeedback"]["feedback"]["rating"] == "POSITIVE"
    assert given["giveFeedback"]["feedback"]["actor"]  # the credential that gave it
