"""List fields resolve through per-request DataLoaders: one service call per field for a whole
page, not one per item (no N+1)."""
from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.api.ops import ADD, GQL, add_input
from tests.api.test_subscriptions import TIMEOUT, wait_for_subscribers, ws_url


def count_calls(monkeypatch: pytest.MonkeyPatch, service: Any, *names: str) -> Counter[str]:
    calls: Counter[str] = Counter()
    for name in names:
        original = getattr(service, name)

        async def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(service, name, spy)
    return calls


async def test_a_page_of_memories_loads_history_and_relations_in_one_call_each(
    gql: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        await gql.data(ADD, input=add_input(f"fact {i}"))
    calls = count_calls(monkeypatch, gql.service, "history_many", "relations_by_memory", "history", "get")
    data = await gql.data("""{ memories { nodes { id history { event newText } relations { source }
                                                  entities { name } } } }""")
    nodes = data["memories"]["nodes"]
    assert len(nodes) == 6 and all(n["history"][0]["event"] == "ADD" for n in nodes)
    assert calls == Counter({"history_many": 1, "relations_by_memory": 1})


async def test_the_same_memory_twice_in_one_request_is_loaded_once(gql: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    await gql.data(ADD, input=add_input("only one"))
    calls = count_calls(monkeypatch, gql.service, "history_many")
    await gql.data("{ a: memories { nodes { history { event } } } b: memories { nodes { history { event } } } }")
    assert calls["history_many"] == 1


async def test_subscription_events_see_fresh_data(gql: GQL) -> None:
    """WebSocket contexts outlive one event: their loaders batch but never serve stale history."""
    id = (await gql.data(ADD, input=add_input("v1")))["addMemories"]["changes"][0]["id"]
    query = "subscription { memoryEvents(events: [UPDATE]) { memory { text history { newText } } } }"
    update = "mutation($id: ID!, $t: String!) { updateMemory(input: {id: $id, text: $t}) { id } }"
    transport = WebsocketsTransport(url=ws_url(gql.client), subprotocols=["graphql-transport-ws"])
    histories = []
    async with Client(transport=transport) as session:
        events = aiter(session.subscribe(GraphQLRequest(query)))
        for text in ("v2", "v3"):
            # each update once the last event has been delivered: an event's history is read when
            # the event is, so an update made meanwhile would show in it too
            received = asyncio.create_task(anext(events))
            if text == "v2":
                await wait_for_subscribers(gql, 1)
            await gql.data(update, id=id, t=text)
            async with asyncio.timeout(TIMEOUT):
                event = await received
            histories.append([h["newText"] for h in event["memoryEvents"]["memory"]["history"]])
    assert histories == [["v1", "v2"], ["v1", "v2", "v3"]]
