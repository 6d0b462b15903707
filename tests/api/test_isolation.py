"""The adversarial isolation suite. Alice holds real credentials (an API key, an agent key, an
access token exchanged for her key, and a JWT from the identity provider); with each of them
she tries every query, mutation and subscription on Bob's data — by id, by scope, by filter,
by search, by graph neighbourhood, through history and events. Every attempt is refused or
returns nothing of Bob's, and Bob's data is unchanged afterwards.

Everything of Bob's carries the marker "zebra", so a leak anywhere in an answer is visible.
One server (with the embedded graph) serves the whole module."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import httpx
import pytest

from tests.api.authkit import idp_token, make_key
from tests.api.live import LiveServer

MARKER = "zebra"
REFUSALS = {"FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"}
MEMORY = "id text userId agentId runId metadata history { event oldText newText } relations { source destination }"
RELATION = "source relation destination userId memoryId memory { id text }"
ENTITY = f"name userId relations(first: 10) {{ {RELATION} }} neighbours(depth: 2, first: 10) {{ name userId }}"


def add(text: str, scope: dict[str, str], **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { id } } }",
            {"input": {"messages": [{"role": "user", "content": text}], "scope": scope, "infer": False, **extra}})


def relate(scope: dict[str, str], source: str, relation: str, destination: str) -> tuple[str, dict[str, Any]]:
    return ("mutation($input: RelationInput!) { addRelation(input: $input) { graphPending } }",
            {"input": {"scope": scope, "source": source, "relation": relation, "destination": destination}})


class World:
    """The running server, Bob's data and Alice's credentials."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        make = lambda role, **kw: server.call(make_key(server.app, role, **kw))  # noqa: E731
        self.admin = make("admin")
        self.bob = make("user", user_id="bob")
        self.bob_agent = make("agent", user_id="bob", agent_id="bob-agent")
        alice_key = make("user", user_id="alice")
        self.credentials = {
            "api-key": alice_key,
            "agent-key": make("agent", user_id="alice", agent_id="alice-agent"),
            "access-token": self.post_token(alice_key),
            "idp-jwt": idp_token(sub="alice", lifetime=3600),
        }
        self.bob_ids: list[str] = []

    def post_token(self, key: str) -> str:
        resp = httpx.post(self.server.url + "/auth/token", json={"grant_type": "api_key", "api_key": key})
        return str(resp.json()["access_token"])

    def gql(self, credential: str, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = httpx.post(self.server.url + "/graphql", json={"query": document, "variables": variables or {}},
                          headers={"Authorization": f"Bearer {credential}"}, timeout=30)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def seed(self) -> None:
        for credential, (document, variables) in [
            (self.bob, add("zebra one: Bob lives in Zebraville", {"userId": "bob"}, metadata={"tag": "zebra-meta"})),
            (self.bob, add("zebra two: Bob's run note", {"userId": "bob", "runId": "bob-run"})),
            (self.bob_agent, add("zebra three: the agent's note", {"userId": "bob", "agentId": "bob-agent"})),
            (self.credentials["api-key"], add("Alice likes tea", {"userId": "alice"})),
            (self.credentials["agent-key"], add("Alice's agent note", {"userId": "alice", "agentId": "alice-agent"})),
        ]:
            body = self.gql(credential, document, variables)
            assert "errors" not in body, body
            if credential in (self.bob, self.bob_agent):
                self.bob_ids.append(body["data"]["addMemories"]["changes"][0]["id"])
        update = "mutation($id: ID!) { updateMemory(input: {id: $id, text: \"zebra one: Bob moved to Zebra City\"}) { id } }"
        assert "errors" not in self.gql(self.bob, update, {"id": self.bob_ids[0]})
        for credential, (document, variables) in [
            (self.bob, relate({"userId": "bob"}, "bob", "LIVES_IN", "zebraville")),
            # an entity named like Alice's, in Bob's graph: a neighbourhood must not cross scopes
            (self.bob, relate({"userId": "bob"}, "alice", "WORKS_AT", "zebra-corp")),
            (self.bob, relate({"userId": "bob"}, "tea", "GROWN_IN", "zebra-hills")),
            (self.credentials["api-key"], relate({"userId": "alice"}, "alice", "LIKES", "tea")),
        ]:
            body = self.gql(credential, document, variables)
            assert "errors" not in body and not body["data"]["addRelation"]["graphPending"], body

    def bob_state(self) -> str:
        """Everything of Bob's, as the admin sees it."""
        document = f"""query {{
          memories(scope: {{userId: "bob"}}, first: 100, includeInvalidated: true) {{ nodes {{ {MEMORY} updatedAt valid }} }}
          relations(scope: {{userId: "bob"}}, first: 100, filter: {{includeInvalid: true}}) {{ nodes {{ source relation destination valid }} }}
          entities(scope: {{userId: "bob"}}, first: 100) {{ nodes {{ name }} }}
        }}"""
        body = self.gql(self.admin, document)
        assert "errors" not in body, body
        assert len(body["data"]["memories"]["nodes"]) == 3 and len(body["data"]["relations"]["nodes"]) == 3
        return json.dumps(body["data"], sort_keys=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.api.authkit import secure_settings

    tmp: Path = tmp_path_factory.mktemp("isolation")
    settings = secure_settings(tmp, graph={"enabled": True, "embedded_heap_mb": 256},
                               limits={"requests_per_s": 1000, "burst": 10_000})
    server = LiveServer(settings).start()
    try:
        world = World(server)
        world.seed()
        yield world
    finally:
        server.stop()


def by_id(bob_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(document, variables): every operation that addresses one memory by id."""
    return [
        (f"query($id: ID!) {{ memory(id: $id) {{ {MEMORY} }} }}", {"id": bob_id}),
        ("query($id: ID!) { history(memoryId: $id) { event oldText newText } }", {"id": bob_id}),
        ("mutation($id: ID!) { updateMemory(input: {id: $id, text: \"pwned\"}) { id text } }", {"id": bob_id}),
        ("mutation($id: ID!) { updateMemory(input: {id: $id, metadata: {x: 1}}) { id } }", {"id": bob_id}),
        ("mutation($id: ID!) { deleteMemory(id: $id) { id text } }", {"id": bob_id}),
        ("mutation($id: ID!) { updateMemories(input: [{id: $id, text: \"pwned\"}]) { id text } }", {"id": bob_id}),
        ("mutation($id: ID!) { deleteMemoriesByIds(ids: [$id]) { id text } }", {"id": bob_id}),
    ]


def probes() -> list[tuple[str, dict[str, Any]]]:
    """(document, variables): every other way in to Bob's data that the schema offers."""
    bob, bob_agent, bob_run = {"userId": "bob"}, {"agentId": "bob-agent"}, {"runId": "bob-run"}
    return [
        *[(f"query($s: ScopeInput) {{ memories(scope: $s, first: 100, includeInvalidated: true) {{ nodes {{ {MEMORY} }} }} }}",
           {"s": s}) for s in (None, bob, bob_agent, bob_run, {"userId": "bob", "agentId": "bob-agent"})],
        *[(f"query($f: MemoryFilter) {{ memories(filter: $f, first: 100) {{ nodes {{ {MEMORY} }} }} }}", {"f": f})
          for f in ({"field": {"name": "userId", "eq": "bob"}}, {"field": {"name": "text", "contains": MARKER}},
                    {"field": {"name": "tag", "eq": "zebra-meta"}}, {"not": {"field": {"name": "userId", "eq": "alice"}}},
                    {"or": [{"field": {"name": "agentId", "eq": "bob-agent"}}, {"field": {"name": "runId", "eq": "bob-run"}}]})],
        *[(f"query($s: ScopeInput!) {{ search(query: \"zebra bob zebraville\", scope: $s, limit: 100, threshold: -1) "
           f"{{ hits {{ score memory {{ {MEMORY} }} }} relations {{ {RELATION} }} }} }}", {"s": s})
          for s in (bob, bob_agent, bob_run, {"userId": "alice"}, {"agentId": "alice-agent"})],
        *[(f"query($s: ScopeInput) {{ entities(scope: $s, first: 100) {{ nodes {{ {ENTITY} }} }} "
           f"relations(scope: $s, first: 100, filter: {{includeInvalid: true}}) {{ nodes {{ {RELATION} }} }} }}", {"s": s})
          for s in (None, bob, bob_agent, {"userId": "alice"})],
        *[("query($n: String) { entities(filter: {nameContains: $n}) { nodes { name userId } } "
           "relations(filter: {nameContains: $n, includeInvalid: true}) { nodes { source destination userId } } }", {"n": n})
          for n in ("zebra", "bob", "alice", "tea")],
        *[(f"query($s: ScopeInput!, $e: String!) {{ neighbourhood(scope: $s, entity: $e, depth: 3) "
           f"{{ entities {{ {ENTITY} }} relations {{ {RELATION} }} }} }}", {"s": s, "e": e})
          for s in (bob, {"userId": "alice"}, {"agentId": "bob-agent"}) for e in ("bob", "alice", "tea", "zebraville")],
        ("{ apiKeys(includeRevoked: true) { id name userId } }", {}),
        # writes
        *[("mutation($s: ScopeInput!) { deleteMemories(scope: $s) { deletedCount } }", {"s": s})
          for s in (bob, bob_agent, bob_run, {"userId": "bob", "agentId": "bob-agent", "runId": "bob-run"})],
        ("mutation { resetMemories }", {}),
        add("planted by alice", bob),
        add("planted by alice", {"userId": "bob", "agentId": "bob-agent"}),
        relate(bob, "bob", "OWES", "alice"),
        *[("mutation($i: RelationInput!) { invalidateRelation(input: $i) { source destination } }",
           {"i": {"scope": s, "source": src, "relation": rel, "destination": dst}})
          for s in (bob, {"userId": "alice"}, bob_agent)
          for src, rel, dst in (("bob", "LIVES_IN", "zebraville"), ("alice", "WORKS_AT", "zebra-corp"))],
        ("mutation { createApiKey(input: {name: \"x\", role: USER, userId: \"bob\"}) { key } }", {}),
        ("mutation { createApiKey(input: {name: \"x\", role: ADMIN}) { key } }", {}),
    ]


def check(body: dict[str, Any], variables: dict[str, Any], bob_ids: list[str]) -> None:
    asked_for_it = MARKER in json.dumps(variables).lower()
    for error in body.get("errors") or []:
        assert error["extensions"]["code"] in REFUSALS, body
        assert asked_for_it or MARKER not in error["message"].lower(), body
    data = json.dumps(body.get("data")).lower()
    assert MARKER not in data, body
    assert not any(id in data for id in bob_ids), body


@pytest.mark.parametrize("credential", ["api-key", "agent-key", "access-token", "idp-jwt"])
def test_alice_gets_nothing_of_bobs_over_http(world: World, credential: str) -> None:
    before = world.bob_state()
    alice = world.credentials[credential]
    attempts = [probe for id in world.bob_ids for probe in by_id(id)] + probes()
    for document, variables in attempts:
        check(world.gql(alice, document, variables), variables, world.bob_ids)
    assert world.bob_state() == before
    # the control: the same credential does see Alice's own data
    own = world.gql(alice, "{ memories { nodes { text } } }")["data"]["memories"]["nodes"]
    expected = {"Alice's agent note"} if credential == "agent-key" else {"Alice likes tea", "Alice's agent note"}
    assert {m["text"] for m in own} == expected


def rest_probes(bob_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, JSON body): the REST edge (mem0's API) asks the same authenticator and
    the same guarded service; the same attempts through it."""
    return [
        ("GET", f"/v1/memories/{bob_id}", None), ("GET", f"/v1/memories/{bob_id}/history", None),
        ("GET", "/v1/memories?user_id=bob", None), ("GET", "/v1/memories?agent_id=bob-agent", None),
        ("GET", "/v1/memories?run_id=bob-run", None), ("GET", "/v1/memories", None),
        ("POST", "/v2/memories", {"filters": {"user_id": "bob"}}),
        ("POST", "/v1/memories/search", {"query": "zebra", "user_id": "bob"}),
        ("POST", "/v2/memories/search", {"query": "zebra", "filters": {"agent_id": "bob-agent"}}),
        ("GET", "/v1/entities", None),
        ("PUT", f"/v1/memories/{bob_id}", {"text": "pwned"}), ("DELETE", f"/v1/memories/{bob_id}", None),
        ("PUT", "/v1/batch/", {"memories": [{"memory_id": bob_id, "text": "pwned"}]}),
        ("DELETE", "/v1/batch/", {"memories": [{"memory_id": bob_id}]}),
        ("DELETE", "/v1/memories?user_id=bob", None), ("DELETE", "/v1/memories?agent_id=bob-agent", None),
        ("DELETE", "/v1/entities/user/bob", None), ("DELETE", "/v1/entities/agent/bob-agent", None),
        ("DELETE", "/v1/memories/reset", None),
        ("POST", "/v1/memories", {"messages": [{"role": "user", "content": "planted"}], "user_id": "bob", "infer": False}),
    ]


@pytest.mark.parametrize("form", ["Bearer", "Token"])
@pytest.mark.parametrize("credential", ["api-key", "idp-jwt"])
def test_alice_gets_nothing_of_bobs_over_rest(world: World, credential: str, form: str) -> None:
    before = world.bob_state()
    headers = {"Authorization": f"{form} {world.credentials[credential]}"}
    for id in world.bob_ids:
        for method, path, body in rest_probes(id):
            resp = httpx.request(method, world.server.url + path, json=body, headers=headers, timeout=30)
            assert resp.status_code < 500 and resp.status_code != 401, (method, path, resp.text)
            text = resp.text.lower()
            assert MARKER not in text or resp.status_code >= 400 and MARKER in json.dumps(body).lower(), (path, text)
            if resp.status_code < 300:
                assert not any(other in text for other in world.bob_ids), (path, text)
                assert '"bob' not in text, (path, text)  # not even Bob's user and agent ids
    assert world.bob_state() == before


EVENTS = "subscription($s: ScopeInput) { memoryEvents(scope: $s) { kind memoryId userId agentId memory { text } relation { source destination } } }"


async def subscribe(ws: aiohttp.ClientWebSocketResponse, legacy: bool, id: str, scope: Any) -> None:
    payload = {"query": EVENTS, "variables": {"s": scope}}
    await ws.send_json({"id": id, "type": "start" if legacy else "subscribe", "payload": payload})


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize("credential", ["api-key", "access-token", "idp-jwt"])
async def test_alice_receives_no_event_of_bobs(world: World, credential: str, protocol: str) -> None:
    legacy = protocol == "graphql-ws"
    scopes = {"all": None, "bob": {"userId": "bob"}, "bob-agent": {"agentId": "bob-agent"}, "run": {"runId": "bob-run"}}
    async with aiohttp.ClientSession() as http, http.ws_connect(world.server.ws_url, protocols=[protocol]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {world.credentials[credential]}"}})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        for id, scope in scopes.items():
            await subscribe(ws, legacy, id, scope)
        await asyncio.sleep(0.5)  # the subscriptions register
        # Bob writes, then Alice: Alice's event arriving, and nothing of Bob's before or after it,
        # shows that Bob's events were never sent
        await asyncio.to_thread(world.gql, world.bob, *add("zebra four: live", {"userId": "bob", "runId": "bob-run"}))
        await asyncio.to_thread(world.gql, world.bob, *relate({"userId": "bob"}, "bob", "KNOWS", "zebra-zed"))
        await asyncio.to_thread(world.gql, world.credentials["api-key"], *add("Alice's live note", {"userId": "alice"}))
        messages = await read_until_quiet(ws, lambda m: m.get("id") == "all" and m.get("type") in ("next", "data"))
    assert MARKER not in json.dumps(messages).lower(), messages
    data = [m for m in messages if m["type"] in ("next", "data") and (m["payload"].get("data") or {}).get("memoryEvents")]
    assert [(m["id"], m["payload"]["data"]["memoryEvents"]["memory"]["text"]) for m in data] == [
        ("all", "Alice's live note")]
    # naming Bob is refused outright
    assert any(m["id"] == "bob" and "FORBIDDEN" in json.dumps(m) for m in messages), messages


async def read_until_quiet(ws: aiohttp.ClientWebSocketResponse, awaited: Any) -> list[dict[str, Any]]:
    """Every message until `awaited` has come and then nothing more for a moment (keep-alives dropped)."""
    messages: list[dict[str, Any]] = []
    seen = False
    async with asyncio.timeout(15):
        while True:
            try:
                message = await ws.receive_json(timeout=0.5 if seen else 10)
            except asyncio.TimeoutError:
                if seen:
                    return messages
                raise
            if message.get("type") != "ka":
                messages.append(message)
                seen = seen or awaited(message)
