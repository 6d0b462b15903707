"""memoryEvents over WebSocket: graphql-transport-ws through gql's client, legacy graphql-ws
by hand; scope and kind filtering, keep-alive, errors."""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.api.ops import ADD, GQL, SUBSCRIBE, add_input

TIMEOUT = 10


def ws_url(client: TestClient) -> str:
    return str(client.make_url("/graphql")).replace("http://", "ws://", 1)


async def wait_for_subscribers(gql: GQL, count: int) -> None:
    """The server registers a subscription asynchronously after the client's subscribe."""
    async with asyncio.timeout(TIMEOUT):
        while gql.service.events.subscriber_count < count:
            await asyncio.sleep(0.01)


async def collect(stream: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        async for item in stream:
            out.append(item["memoryEvents"])
            if len(out) == count:
                return out
    return out


def transport(client: TestClient) -> WebsocketsTransport:
    return WebsocketsTransport(url=ws_url(client), subprotocols=["graphql-transport-ws"])


async def test_graphql_transport_ws_streams_changes_in_scope(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as session:
        request = GraphQLRequest(SUBSCRIBE, variable_values={"scope": {"userId": "alice"}})
        received = asyncio.create_task(collect(session.subscribe(request), 3))
        await wait_for_subscribers(gql, 1)
        await gql.data(ADD, input=add_input("bob's fact", user="bob"))  # another scope: not delivered
        id = (await gql.data(ADD, input=add_input("I live in Paris")))["addMemories"]["changes"][0]["id"]
        await gql.data('mutation($id: ID!) { updateMemory(input: {id: $id, text: "I live in Lyon"}) { id } }', id=id)
        await gql.data("mutation($id: ID!) { deleteMemory(id: $id) { id } }", id=id)
        events = await received
    assert [(e["kind"], e["memoryId"], e["userId"]) for e in events] == [
        ("ADD", id, "alice"), ("UPDATE", id, "alice"), ("DELETE", id, "alice")
    ]
    assert events[0]["memory"]["text"] == "I live in Paris"
    assert events[1]["previousText"] == "I live in Paris" and events[1]["memory"]["text"] == "I live in Lyon"
    assert events[0]["at"] and events[0]["relation"] is None


async def test_every_subscriber_gets_every_event_and_kinds_filter(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as one, Client(transport=transport(gql.client)) as two:
        everything = asyncio.create_task(collect(one.subscribe(GraphQLRequest(SUBSCRIBE)), 3))
        deletes = asyncio.create_task(
            collect(two.subscribe(GraphQLRequest(SUBSCRIBE, variable_values={"events": ["DELETE", "RESET"]})), 2)
        )
        await wait_for_subscribers(gql, 2)
        id = (await gql.data(ADD, input=add_input("short-lived")))["addMemories"]["changes"][0]["id"]
        await gql.data("mutation($id: ID!) { deleteMemory(id: $id) { id } }", id=id)
        await gql.data("mutation { resetMemories }")
        assert [e["kind"] for e in await everything] == ["ADD", "DELETE", "RESET"]
        assert [e["kind"] for e in await deletes] == ["DELETE", "RESET"]


async def test_a_bad_subscription_scope_is_bad_user_input(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as session:
        request = GraphQLRequest(SUBSCRIBE, variable_values={"scope": {"userId": "no spaces allowed"}})
        with pytest.raises(TransportQueryError) as caught:
            async with asyncio.timeout(TIMEOUT):
                async for _ in session.subscribe(request):
                    pass
    (error,) = caught.value.errors or []
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "user_id" in error["message"]


async def test_an_invalid_subscription_document_is_a_validation_error(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as session:
        with pytest.raises(TransportQueryError) as caught:
            async with asyncio.timeout(TIMEOUT):
                async for _ in session.subscribe(GraphQLRequest("subscription { memoryEvents { nope } }")):
                    pass
    assert caught.value.errors and caught.value.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_failures_inside_a_subscription_are_masked(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("redis password is hunter2")

    monkeypatch.setattr(gql.service.events, "subscribe", broken)
    async with Client(transport=transport(gql.client)) as session:
        with pytest.raises(TransportQueryError) as caught:
            async with asyncio.timeout(TIMEOUT):
                async for _ in session.subscribe(GraphQLRequest(SUBSCRIBE)):
                    pass
    (error,) = caught.value.errors or []
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"} and "hunter2" not in str(caught.value)


async def test_graphql_transport_ws_answers_pings_and_runs_queries(gql: GQL) -> None:
    url = ws_url(gql.client)
    async with aiohttp.ClientSession() as http, http.ws_connect(url, protocols=["graphql-transport-ws"]) as ws:
        assert ws.protocol == "graphql-transport-ws"
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "pong"
        await ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": "{ memories { nodes { id } } }"}})
        assert await ws.receive_json(timeout=TIMEOUT) == {
            "id": "q", "type": "next", "payload": {"data": {"memories": {"nodes": []}}}
        }
        assert (await ws.receive_json(timeout=TIMEOUT)) == {"id": "q", "type": "complete"}


async def test_legacy_graphql_ws_protocol_with_keep_alive(gql: GQL) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gql.client), protocols=["graphql-ws"]) as ws:
        assert ws.protocol == "graphql-ws"
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "ka"  # the keep-alive starts at once
        variables = {"scope": {"userId": "alice"}, "events": ["ADD"]}
        await ws.send_json({"id": "1", "type": "start", "payload": {"query": SUBSCRIBE, "variables": variables}})
        await wait_for_subscribers(gql, 1)
        id = (await gql.data(ADD, input=add_input("legacy clients still work")))["addMemories"]["changes"][0]["id"]
        message = await receive_skipping_keep_alive(ws)
        assert message["type"] == "data" and message["id"] == "1"
        event = message["payload"]["data"]["memoryEvents"]
        assert (event["kind"], event["memoryId"], event["memory"]["text"]) == ("ADD", id, "legacy clients still work")
        await ws.send_json({"id": "1", "type": "stop"})
        assert (await receive_skipping_keep_alive(ws)) == {"type": "complete", "id": "1"}
        async with asyncio.timeout(TIMEOUT):
            while gql.service.events.subscriber_count:
                await asyncio.sleep(0.01)
        await ws.send_json({"type": "connection_terminate"})
        closing = await ws.receive(timeout=TIMEOUT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_legacy_graphql_ws_reports_errors_with_codes(gql: GQL) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(gql.client), protocols=["graphql-ws"]) as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
        bad = {"scope": {"userId": "bad scope!"}}
        await ws.send_json({"id": "2", "type": "start", "payload": {"query": SUBSCRIBE, "variables": bad}})
        message = await receive_skipping_keep_alive(ws)
        assert message["id"] == "2" and message["type"] in ("data", "error")
        errors = message["payload"]["errors"] if message["type"] == "data" else message["payload"]
        errors = errors if isinstance(errors, list) else [errors]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def receive_skipping_keep_alive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = await ws.receive_json()
            if message["type"] != "ka":
                return message


async def test_closing_the_socket_ends_the_subscription(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as session:
        task = asyncio.create_task(collect(session.subscribe(GraphQLRequest(SUBSCRIBE)), 1))
        await wait_for_subscribers(gql, 1)
        task.cancel()
    async with asyncio.timeout(TIMEOUT):
        while gql.service.events.subscriber_count:
            await asyncio.sleep(0.01)
