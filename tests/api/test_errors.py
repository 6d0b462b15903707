"""Every failure a client can cause is a GraphQL error with extensions.code and a usable
message; anything else is masked as INTERNAL_SERVER_ERROR without details."""
from __future__ import annotations

import logging

import pytest

from memory.errors import ProviderError, StoreUnavailable
from tests.api.ops import ADD, GQL, MEMORIES, SEARCH, add_input


def only_error(body: dict) -> dict:
    (error,) = body["errors"]
    return error


async def test_unknown_memory_is_not_found(gql: GQL) -> None:
    body = await gql('{ memory(id: "missing") { id } }')
    assert body["data"] == {"memory": None}
    error = only_error(body)
    assert error["extensions"] == {"code": "NOT_FOUND"} and "missing" in error["message"]
    assert error["path"] == ["memory"]


@pytest.mark.parametrize(
    ("mutation", "variables"),
    [
        ("mutation($id: ID!) { deleteMemory(id: $id) { id } }", {"id": "missing"}),
        ('mutation($id: ID!) { updateMemory(input: {id: $id, text: "x"}) { id } }', {"id": "missing"}),
    ],
)
async def test_mutating_an_unknown_memory_is_not_found(gql: GQL, mutation: str, variables: dict) -> None:
    assert only_error(await gql(mutation, **variables))["extensions"]["code"] == "NOT_FOUND"


async def test_history_of_an_unknown_memory_is_not_found(gql: GQL) -> None:
    body = await gql('{ history(memoryId: "missing") { event } }')
    assert only_error(body)["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"input": add_input("x", user="not a valid id!")}, "user_id"),
        ({"input": {**add_input("x"), "scope": {}}}, "scope is required"),
        ({"input": add_input("   ")}, "content"),
        ({"input": {**add_input("x"), "messages": []}}, "messages"),
        ({"input": add_input("x", metadata=[1, 2])}, "metadata must be a JSON object"),
    ],
)
async def test_bad_add_input_is_bad_user_input(gql: GQL, variables: dict, fragment: str) -> None:
    error = only_error(await gql(ADD, **variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"first": 0}, "first must be between"),
        ({"first": 100000}, "first must be between"),
        ({"after": "not-a-cursor"}, "cursor"),
        ({"filter": {}}, "empty filter"),
        ({"filter": {"and": []}}, "at least one"),
        ({"filter": {"field": {"name": "topic"}}}, "needs an operator"),
        ({"filter": {"field": {"name": "createdAt", "gt": "yesterday"}}}, "ISO-8601"),
        ({"filter": {"field": {"name": "", "eq": 1}}}, "non-empty"),
    ],
)
async def test_bad_list_arguments_are_bad_user_input(gql: GQL, variables: dict, fragment: str) -> None:
    error = only_error(await gql(MEMORIES, **variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert fragment in error["message"]


async def test_deeply_nested_filters_are_refused(gql: GQL) -> None:
    flt: dict = {"field": {"name": "a", "eq": 1}}
    for _ in range(20):
        flt = {"not": flt}
    assert only_error(await gql(MEMORIES, filter=flt))["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"query": "", "scope": {"userId": "a"}}, "query"),
        ({"query": "x", "scope": {}}, "scope is required"),
        ({"query": "x", "scope": {"userId": "a"}, "limit": 0}, "limit"),
        ({"query": "x", "scope": {"userId": "a"}, "threshold": 7.0}, "threshold"),
    ],
)
async def test_bad_search_arguments_are_bad_user_input(gql: GQL, variables: dict, fragment: str) -> None:
    error = only_error(await gql(SEARCH, **variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and fragment in error["message"]


async def test_a_syntax_error_is_a_parse_failure(gql: GQL) -> None:
    error = only_error(await gql("{ memories { "))
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED" and "Syntax Error" in error["message"]


async def test_an_unknown_field_is_a_validation_failure(gql: GQL) -> None:
    error = only_error(await gql("{ memories { nope } }"))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "nope" in error["message"]


async def test_a_variable_of_the_wrong_type_is_bad_user_input(gql: GQL) -> None:
    error = only_error(await gql("query($first: Int!) { memories(first: $first) { nodes { id } } }", first="ten"))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "$first" in error["message"]


async def test_an_unknown_enum_value_is_bad_user_input(gql: GQL) -> None:
    error = only_error(await gql(MEMORIES, orderBy="SIDEWAYS"))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_too_deep_a_query_is_refused(gql: GQL) -> None:
    selection = "source"
    for _ in range(8):
        selection = f"memory {{ relations {{ {selection} }} }}"
    # depth is checked before execution, so it does not matter that the graph is disabled
    error = only_error(await gql(f"{{ relations {{ nodes {{ {selection} }} }} }}"))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "depth" in error["message"]


async def test_unexpected_exceptions_are_masked_and_logged(
    gql: GQL, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 7")

    monkeypatch.setattr(gql.service, "list_memories", broken)
    with caplog.at_level(logging.ERROR, logger="app.graphql"):
        body = await gql(MEMORIES)
    error = only_error(body)
    assert error == {
        "message": "Internal server error",
        "locations": error["locations"],
        "path": ["memories"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }
    assert "hunter2" not in str(body)
    assert any("hunter2" in (r.exc_text or "") + r.getMessage() for r in caplog.records)


async def test_a_null_where_the_schema_promises_a_value_is_masked(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(gql.service, "reset", nothing)
    monkeypatch.setattr(type(gql.service), "delete_all", lambda *a, **k: _none())
    error = only_error(await gql('mutation { deleteMemories(scope: {userId: "a"}) { deletedCount } }'))
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and error["message"] == "Internal server error"


async def _none() -> None:
    return None


async def test_a_store_outage_is_service_unavailable(gql: GQL) -> None:
    # the graph is disabled in these tests: graph queries say so with SERVICE_UNAVAILABLE
    body = await gql('{ entities { nodes { name } } }')
    error = only_error(body)
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and "disabled by configuration" in error["message"]


async def test_raised_agentmem_errors_keep_their_code(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("sql", "connection refused by db-internal.corp:5432")

    monkeypatch.setattr(gql.service, "search", down)
    error = only_error(await gql(SEARCH, query="x", scope={"userId": "a"}))
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and error["message"].startswith("sql unavailable")
    assert "db-internal" not in error["message"]  # the driver's detail is for the log only


async def test_a_provider_failure_does_not_show_its_url_or_answer(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise ProviderError("POST http://llm.internal:8080/v1/chat answered 500: {'secret': 'memory text'}")

    monkeypatch.setattr(gql.service, "search", broken)
    error = only_error(await gql(SEARCH, query="x", scope={"userId": "a"}))
    assert error["extensions"]["code"] == "PROVIDER_ERROR"
    assert "llm.internal" not in error["message"] and "memory text" not in error["message"]


async def test_an_exception_escaping_the_operation_is_still_masked(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.graphql.schema import OperationRules

    def explode(self: object) -> None:
        raise RuntimeError("internal path /srv/agentmem/secret")

    monkeypatch.setattr(OperationRules, "on_parse", explode)
    body = await gql("{ __typename }")
    error = only_error(body)
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"} and "secret" not in str(body)
