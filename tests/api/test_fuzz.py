"""Property-based fuzzing of the running app (real authentication, the embedded graph):
arbitrary queries and mutations generated from the schema (hypothesis-graphql), and arbitrary
variables for fixed operations, sent with a user's credential. Whatever comes in:

- no answer is a 5xx, and no error is INTERNAL_SERVER_ERROR;
- nothing of another user's ever comes back, and the other user's data is unchanged."""
from __future__ import annotations

import json
from datetime import UTC
from typing import Any, Iterator

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql_st

from app.graphql.schema import sdl
from tests.api.authkit import make_key, secure_settings
from tests.api.live import LiveServer

MARKER = "zebra"
EXAMPLES = 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def json_node(value: Any) -> Any:
    if isinstance(value, dict):
        return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=json_node(v))
                             for k, v in value.items() if k.isidentifier() and k.isascii()])
    if isinstance(value, list):
        return nodes.List([json_node(v) for v in value])
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    return nodes.String(value)


SCALARS = {
    "JSON": json_values.map(json_node),
    "DateTime": st.one_of(st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), st.text(max_size=20))
    .map(nodes.String),
}
SCOPE_PARTS = st.sampled_from(["alice", "bob", "bob-agent", "bob-run", "alice-agent", "", "x" * 200, "a b", "*"])
scopes = st.fixed_dictionaries({}, optional={"userId": SCOPE_PARTS, "agentId": SCOPE_PARTS, "runId": SCOPE_PARTS})
VARIABLE_OPERATIONS = [
    "query($s: ScopeInput, $f: MemoryFilter, $n: Int!) { memories(scope: $s, filter: $f, first: $n) "
    "{ nodes { id text metadata userId history { event newText } relations { source destination } } } }",
    "query($q: String!, $s: ScopeInput!, $f: MemoryFilter, $n: Int!) { search(query: $q, scope: $s, filter: $f, "
    "limit: $n) { hits { memory { id text } } relations { source destination } } }",
    "query($s: ScopeInput!, $e: String!, $n: Int!) { neighbourhood(scope: $s, entity: $e, depth: $n) "
    "{ entities { name userId neighbours { name } } relations { source destination userId } } }",
    "mutation($i: AddMemoriesInput!) { addMemories(input: $i) { changes { id text memory { userId } } } }",
    "mutation($s: ScopeInput!) { deleteMemories(scope: $s) { deletedCount } }",
    "mutation($i: RelationInput!) { invalidateRelation(input: $i) { source destination userId } }",
    # by id: $id is drawn from the other user's ids as often as not
    "query($id: ID!) { memory(id: $id) { id text } history(memoryId: $id) { newText } }",
    "mutation($id: ID!, $q: String, $f: JSON) { updateMemory(input: {id: $id, text: $q, metadata: $f}) { text } }",
    "mutation($id: ID!) { deleteMemory(id: $id) { id text } }",
]
variables = st.fixed_dictionaries({}, optional={
    "s": scopes | json_values, "f": json_values, "n": st.integers(-5, 2**31 - 1) | json_values,
    "q": st.text(max_size=50), "e": st.sampled_from(["bob", "alice", "tea", "zebraville"]) | st.text(max_size=20),
    "i": st.fixed_dictionaries({"scope": scopes}, optional={
        "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "x"]),
                                                    "content": st.text(max_size=40)}), max_size=3),
        "source": st.text(max_size=10), "relation": st.text(max_size=10), "destination": st.text(max_size=10),
        "infer": st.just(False), "metadata": json_values,
    }) | json_values,
})


class Target:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.admin = server.call(make_key(server.app, "admin"))
        self.bob = server.call(make_key(server.app, "user", user_id="bob"))
        self.alice = server.call(make_key(server.app, "user", user_id="alice"))
        self.bob_ids: list[str] = []

    def post(self, credential: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/graphql", json=body, headers={"Authorization": f"Bearer {credential}"})

    def seed(self) -> None:
        add = "mutation($i: AddMemoriesInput!) { addMemories(input: $i) { changes { id } } }"
        for credential, text, scope in [(self.bob, "zebra: Bob's secret", {"userId": "bob"}),
                                        (self.bob, "zebra: agent note", {"userId": "bob", "agentId": "bob-agent"}),
                                        (self.alice, "Alice likes tea", {"userId": "alice"})]:
            i = {"messages": [{"role": "user", "content": text}], "scope": scope, "infer": False}
            body = self.post(credential, {"query": add, "variables": {"i": i}}).json()
            if credential == self.bob:
                self.bob_ids.append(body["data"]["addMemories"]["changes"][0]["id"])
        relate = "mutation { addRelation(input: {scope: {userId: \"bob\"}, source: \"bob\", relation: \"LIVES_IN\", destination: \"zebraville\"}) { graphPending } }"
        assert "errors" not in self.post(self.bob, {"query": relate}).json()

    def bob_state(self) -> str:
        query = """{ memories(scope: {userId: "bob"}, includeInvalidated: true) { nodes { id text metadata updatedAt } }
                     relations(scope: {userId: "bob"}, filter: {includeInvalid: true}) { nodes { source destination valid } } }"""
        return json.dumps(self.post(self.admin, {"query": query}).json(), sort_keys=True)

    def check(self, body: dict[str, Any]) -> None:
        resp = self.post(self.alice, body)
        assert resp.status_code < 500, resp.text
        if resp.status_code != 200:
            assert resp.status_code in (400, 413, 415, 429), resp.text
            return
        answer = resp.json()
        for error in answer.get("errors") or []:
            assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", (body, answer)
        data = json.dumps(answer.get("data")).lower()
        assert MARKER not in data and not any(id in data for id in self.bob_ids), (body, answer)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    settings_ = secure_settings(tmp_path_factory.mktemp("fuzz"), graph={"enabled": True, "embedded_heap_mb": 256},
                                limits={"requests_per_s": 10_000, "burst": 100_000})
    server = LiveServer(settings_).start()
    try:
        target = Target(server)
        target.seed()
        target.before = target.bob_state()  # type: ignore[attr-defined]
        yield target
        assert target.bob_state() == target.before  # type: ignore[attr-defined]
    finally:
        target.http.close()
        server.stop()


@FUZZ
@given(document=gql_st.from_schema(sdl(), custom_scalars=SCALARS))
def test_generated_operations_never_fail_inside_or_leak(target: Target, document: str) -> None:
    target.check({"query": document})


@FUZZ
@given(document=st.sampled_from(VARIABLE_OPERATIONS), values=variables, data=st.data())
def test_arbitrary_variables_never_fail_inside_or_leak(target: Target, document: str, values: dict[str, Any],
                                                       data: st.DataObject) -> None:
    values["id"] = data.draw(st.sampled_from(target.bob_ids) | st.text(max_size=40) | json_values)
    target.check({"query": document, "variables": values})


@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_arbitrary_text_as_a_document_is_a_client_error(target: Target, text: str) -> None:
    target.check({"query": text})
