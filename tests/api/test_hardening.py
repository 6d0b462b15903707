"""Requests one tenant could use to hold the service are refused at the GraphQL edge with BAD_USER_INPUT."""
from __future__ import annotations

from memory.filters import MAX_CONDITIONS
from memory.validation import MAX_MESSAGES
from tests.api.ops import GQL

ADD = "mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { event } } }"
LIST = "query($filter: MemoryFilter) { memories(scope: {userId: \"alice\"}, filter: $filter) { nodes { text } } }"


def code(body: dict) -> str:
    (error,) = body["errors"]
    return str(error["extensions"]["code"])


async def test_an_add_over_the_message_cap_is_bad_user_input_and_stores_nothing(gql: GQL) -> None:
    messages = [{"role": "user", "content": f"fact {i}"} for i in range(MAX_MESSAGES + 1)]
    body = await gql(ADD, input={"messages": messages, "scope": {"userId": "alice"}, "infer": False})
    assert code(body) == "BAD_USER_INPUT" and f"at most {MAX_MESSAGES} messages" in body["errors"][0]["message"]
    assert (await gql.data(LIST))["memories"]["nodes"] == []


async def test_a_filter_over_the_condition_cap_is_bad_user_input(gql: GQL) -> None:
    await gql.data(ADD, input={"messages": [{"role": "user", "content": "I like tea"}],
                               "scope": {"userId": "alice"}, "infer": False})
    many = {"or": [{"field": {"name": "text", "contains": f"w{i}"}} for i in range(MAX_CONDITIONS + 1)]}
    body = await gql(LIST, filter=many)
    assert code(body) == "BAD_USER_INPUT" and "conditions" in body["errors"][0]["message"]
    few = {"or": [{"field": {"name": "text", "contains": "tea"}}]}
    assert (await gql.data(LIST, filter=few))["memories"]["nodes"] == [{"text": "I like tea"}]
