"""GraphQL over Server-Sent Events at /graphql/stream: the real `graphql-sse` client (node) in
both modes against a live server with authentication enforced, the protocol by hand (tokens,
DELETE, refusals), scope, limits, keep-alive, clean-up, and events from another replica."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from graphql.language.parser import Parser

from app.auth import KEY_MANAGER_KEY
from app.auth.keys import key_id
from app.graphql import schema as schema_module
from app.graphql.parse_cache import DocumentCache
from app.graphql.sse import STREAM_PATH, TOKEN_HEADER
from app.keys import SERVICE_KEY
from app.ops.runtime import RELOADER_KEY
from app.settings import Settings
from app.streams import SLOTS_KEY
from app.web import create_app
from tests.api.authkit import Caller, make_key, secure_settings
from tests.api.ops import ADD, add_input
from tests.api.sse import next_event, read_message, wait_until
from tests.api.test_cli import ROOT

ClientFactory = Callable[..., Awaitable[TestClient]]
NODE_MODULES = ROOT / "examples" / "js" / "node_modules"
DRIVER = Path(__file__).with_name("sse_client.cjs")
EVENTS = "subscription($scope: ScopeInput) { memoryEvents(scope: $scope) { kind memoryId userId memory { text } } }"
STREAM = {"Accept": "text/event-stream"}
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / "graphql-sse").is_dir(),
    reason="node and `npm ci` in examples/js are needed (scripts/install.sh --test does it)",
)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = secure_settings(tmp_path, limits={"keep_alive_s": 0.3, "subscriptions_per_principal": 2,
                                                 "connection_init_wait_s": 1.0})
    return await aiohttp_client(create_app(settings))


def subscribers(client: TestClient) -> int:
    return int(client.app[SERVICE_KEY].events.subscriber_count)


async def run_node(client: TestClient, key: str | None, mode: str, query: str, *, count: int = 0,
                   variables: dict[str, Any] | None = None) -> asyncio.subprocess.Process:
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES), "AGENTMEM_URL": str(client.make_url(STREAM_PATH)),
           "SSE_MODE": mode, "SSE_QUERY": query, "SSE_VARIABLES": json.dumps(variables or {}), "SSE_COUNT": str(count)}
    env.pop("AGENTMEM_API_KEY", None)
    if key:
        env["AGENTMEM_API_KEY"] = key
    return await asyncio.create_subprocess_exec("node", str(DRIVER), env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)


async def output(process: asyncio.subprocess.Process) -> list[str]:
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return out.decode().splitlines()


def results(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("RESULT ")) for line in lines if line.startswith("RESULT ")]


@needs_node
@pytest.mark.parametrize("mode", ["distinct", "single"])
async def test_the_graphql_sse_client_sees_an_add_made_over_graphql(client: TestClient, mode: str) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    node = await run_node(client, alice, mode, EVENTS, count=1)
    await wait_until(lambda: subscribers(client) == 1)
    await Caller(client, alice).data(ADD, input=add_input("seen through graphql-sse", user="alice"))
    lines = await output(node)
    assert node.returncode == 0, lines
    (event,) = [r["data"]["memoryEvents"] for r in results(lines)]
    assert (event["kind"], event["userId"], event["memory"]["text"]) == ("ADD", "alice", "seen through graphql-sse")
    await wait_until(lambda: subscribers(client) == 0)  # the client left: its subscription is gone
    await wait_until(lambda: client.app[SLOTS_KEY].total == 0)


@needs_node
@pytest.mark.parametrize("mode", ["distinct", "single"])
async def test_the_graphql_sse_client_runs_queries_and_mutations(client: TestClient, mode: str) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    mutation = ADD.replace("mutation Add", "mutation")
    node = await run_node(client, alice, mode, mutation, variables={"input": add_input("a fact over SSE")})
    lines = await output(node)
    assert node.returncode == 0 and lines[-1] == "DONE", lines
    (added,) = results(lines)
    assert added["data"]["addMemories"]["changes"][0]["text"] == "a fact over SSE"
    node = await run_node(client, alice, mode, "{ memories { nodes { text } } }")
    (listed,) = results(await output(node))
    assert listed == {"data": {"memories": {"nodes": [{"text": "a fact over SSE"}]}}}


@needs_node
@pytest.mark.parametrize("mode", ["distinct", "single"])
async def test_the_graphql_sse_client_is_refused_without_a_valid_key(client: TestClient, mode: str) -> None:
    node = await run_node(client, "amk_0123456789abcdef_" + "x" * 43, mode, EVENTS)
    lines = await output(node)
    assert node.returncode == 2 and "(HTTP 401)" in lines[-1], lines


async def test_no_credential_is_a_401_with_a_json_body(client: TestClient) -> None:
    for method in ("POST", "PUT"):
        resp = await client.request(method, STREAM_PATH, json={"query": EVENTS}, headers=STREAM)
        assert resp.status == 401, method
        (error,) = (await resp.json())["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED" and "credential" in error["message"]


async def test_a_scope_outside_the_credential_is_forbidden_and_others_events_never_arrive(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    headers = {**STREAM, "Authorization": f"Bearer {alice}"}
    body = {"query": EVENTS, "variables": {"scope": {"userId": "bob"}}}
    async with client.post(STREAM_PATH, json=body, headers=headers) as resp:
        refused = (await next_event(resp)).json()
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await next_event(resp)).event == "complete"
    admin = Caller(client, await make_key(client.app, "admin"))
    async with client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers) as resp:  # unscoped: alice's only
        await wait_until(lambda: subscribers(client) == 1)
        await admin.data(ADD, input=add_input("bob's secret", user="bob"))
        await admin.data(ADD, input=add_input("alice's note", user="alice"))
        message = await next_event(resp)
    assert message.event == "next" and message.json()["data"]["memoryEvents"]["memory"]["text"] == "alice's note"


async def test_idle_streams_get_keep_alive_comments(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    async with client.post(STREAM_PATH, json={"query": EVENTS}, headers={**STREAM, "X-API-Key": alice}) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        comments = []
        while len(comments) < 2:
            message = await read_message(resp, timeout=5)
            assert message.event is None, message  # nothing happened: only comments
            comments.append(message.comment)
    assert comments == ["connected", "keep-alive"]


async def test_single_connection_by_hand_reserve_open_run_and_stop(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    auth = {"Authorization": f"Bearer {alice}"}
    reserved = await client.put(STREAM_PATH, headers=auth)
    assert reserved.status == 201
    token = await reserved.text()
    with_token = {**auth, TOKEN_HEADER: token}
    async with client.get(STREAM_PATH, params={"token": token}, headers=STREAM) as stream:  # EventSource's way
        assert stream.status == 200
        again = await client.get(STREAM_PATH, headers={**STREAM, TOKEN_HEADER: token})
        assert again.status == 409 and (await again.json())["errors"][0]["extensions"]["code"] == "CONFLICT"
        op = {"query": EVENTS, "extensions": {"operationId": "events-1"}}
        assert (await client.post(STREAM_PATH, json=op, headers=with_token)).status == 202
        assert (await client.post(STREAM_PATH, json=op, headers=with_token)).status == 409  # same id twice
        no_id = await client.post(STREAM_PATH, json={"query": EVENTS}, headers=with_token)
        assert no_id.status == 400 and "operationId" in (await no_id.json())["errors"][0]["message"]
        await wait_until(lambda: subscribers(client) == 1)
        id = (await Caller(client, alice).data(ADD, input=add_input("seen on the shared stream")))
        message = await next_event(stream)
        assert message.event == "next" and message.json()["id"] == "events-1"
        assert message.json()["payload"]["data"]["memoryEvents"]["memory"]["text"] == "seen on the shared stream"
        assert id["addMemories"]["changes"][0]["id"] == message.json()["payload"]["data"]["memoryEvents"]["memoryId"]
        stopped = await client.delete(STREAM_PATH, params={"operationId": "events-1"}, headers=with_token)
        assert stopped.status == 200
        await wait_until(lambda: subscribers(client) == 0)
        query = {"query": "{ memories { nodes { text } } }", "extensions": {"operationId": "q"}}
        assert (await client.post(STREAM_PATH, json=query, headers=with_token)).status == 202
        answer, done = await next_event(stream), await next_event(stream)
        assert answer.json()["payload"]["data"]["memories"]["nodes"] == [{"text": "seen on the shared stream"}]
        assert (done.event, done.json()) == ("complete", {"id": "q"})
    await wait_until(lambda: not _channels(client))  # the stream closed: its reservation is gone


def _channels(client: TestClient) -> dict[str, Any]:
    for resource in client.app.router.resources():
        for route in resource:
            if getattr(route.handler, "channels", None) is not None:
                return route.handler.channels  # type: ignore[no-any-return]
    raise AssertionError("no /graphql/stream handler")


async def test_someone_elses_token_and_unopened_reservations_are_not_found(client: TestClient) -> None:
    alice, bob = [await make_key(client.app, "user", user_id=u) for u in ("alice", "bob")]
    token = await (await client.put(STREAM_PATH, headers={"X-API-Key": alice})).text()
    op = {"query": EVENTS, "extensions": {"operationId": "1"}}
    as_bob = await client.post(STREAM_PATH, json=op, headers={"X-API-Key": bob, TOKEN_HEADER: token})
    assert as_bob.status == 404 and (await as_bob.json())["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await wait_until(lambda: not _channels(client), timeout=5)  # connection_init_wait_s: 1
    late = await client.get(STREAM_PATH, headers={**STREAM, TOKEN_HEADER: token})
    assert late.status == 404


async def test_a_mutation_over_get_or_a_request_not_asking_for_a_stream_is_refused(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    plain = await client.post(STREAM_PATH, json={"query": EVENTS}, headers={"X-API-Key": alice})
    assert plain.status == 406 and "text/event-stream" in (await plain.json())["errors"][0]["message"]
    resp = await client.get(STREAM_PATH, params={"query": "mutation { resetMemories }"},
                            headers={**STREAM, "X-API-Key": alice})
    assert resp.status == 405 and (await resp.json())["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_get_is_looked_at_under_the_token_limit_in_force(
    aiohttp_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = DocumentCache(max_bytes=1_000_000, max_entry_bytes=64_000)  # this test's alone: nothing evicted
    monkeypatch.setattr(schema_module, "DOCUMENTS", documents)
    current: list[Settings] = [secure_settings(tmp_path, limits={"max_tokens": 1000})]
    client = await aiohttp_client(create_app(current[0], reload=lambda: current[0]))
    headers = {**STREAM, "X-API-Key": await make_key(client.app, "user", user_id="alice")}
    hidden = "mutation { " + " ".join(["__typename"] * 250) + " }"  # ~250 tokens
    refused = await client.get(STREAM_PATH, params={"query": hidden}, headers=headers)
    assert refused.status == 405  # under the limit: parsed, seen to be a mutation
    current[0] = secure_settings(tmp_path, limits={"max_tokens": 200})
    assert "limits.max_tokens" in (await client.app[RELOADER_KEY].reload()).applied
    # over the reloaded limit the GET's own look stops at it too, and the operation's parse
    # reports it (before, the look parsed the whole text without any limit)
    async with client.get(STREAM_PATH, params={"query": hidden}, headers=headers) as resp:
        assert resp.status == 200
        (error,) = (await next_event(resp)).json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED" and "tokens" in error["message"]
    # a GET's look and its operation share one parse: the text is parsed once, one document kept
    once = "query OnceOverSse { __typename }"
    parsed: list[str] = []
    parse_document = Parser.parse_document

    def counted(parser: Parser) -> Any:
        parsed.append(parser._lexer.source.body)
        return parse_document(parser)

    monkeypatch.setattr(Parser, "parse_document", counted)
    before = len(documents)
    async with client.get(STREAM_PATH, params={"query": once}, headers=headers) as resp:
        assert (await next_event(resp)).json()["data"] == {"__typename": "Query"}
    assert parsed.count(once) == 1 and len(documents) == before + 1


async def test_a_closed_client_frees_its_subscription_slot(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    headers = {**STREAM, "X-API-Key": alice}
    first = await client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers)
    second = await client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers)
    await wait_until(lambda: subscribers(client) == 2)
    async with client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers) as third:  # the cap is 2
        refused = (await next_event(third)).json()
    assert refused["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    first.close()
    await wait_until(lambda: subscribers(client) == 1)  # noticed without any event or write
    async with client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers) as fourth:
        await wait_until(lambda: subscribers(client) == 2)
        await Caller(client, alice).data(ADD, input=add_input("a free slot again"))
        assert (await next_event(fourth)).json()["data"]["memoryEvents"]["kind"] == "ADD"
    second.close()
    await wait_until(lambda: subscribers(client) == 0)
    await wait_until(lambda: not [t for t in asyncio.all_tasks() if t.get_name().startswith("sse-")])  # no leftovers


async def test_a_revoked_key_ends_its_subscriptions(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = secure_settings(tmp_path, auth={"websocket_recheck_s": 0.1, "key_cache_s": 0})
    client = await aiohttp_client(create_app(settings))
    alice = await make_key(client.app, "user", user_id="alice")
    async with client.post(STREAM_PATH, json={"query": EVENTS}, headers={**STREAM, "X-API-Key": alice}) as resp:
        await wait_until(lambda: subscribers(client) == 1)
        await client.app[KEY_MANAGER_KEY].revoke(key_id(alice))
        ended = await next_event(resp)
        assert ended.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await next_event(resp)).event == "complete"
    assert subscribers(client) == 0


async def test_the_per_principal_cap_counts_websocket_and_sse_subscriptions_together(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {alice}"}})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
        await wait_until(lambda: subscribers(client) == 1)
        headers = {**STREAM, "X-API-Key": alice}
        async with client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers):
            await wait_until(lambda: subscribers(client) == 2)
            async with client.post(STREAM_PATH, json={"query": EVENTS}, headers=headers) as third:  # the cap is 2
                refused = (await next_event(third)).json()
            await ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": EVENTS}})
            over_ws = await ws.receive_json(timeout=10)
    assert refused["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert over_ws["id"] == "2" and over_ws["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    await wait_until(lambda: client.app[SLOTS_KEY].total == 0)
