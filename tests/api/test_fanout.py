"""Two replicas sharing the Redis on this machine: a change made through one reaches a
subscriber connected to the other (and is not delivered twice)."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.fanout import decode_event, encode_event
from app.keys import FANOUT_KEY
from app.settings import Settings
from app.web import create_app
from memory.events import EventKind, MemoryEvent
from memory.models import MemoryRecord, Relation, Scope, utcnow
from tests.api.ops import ADD, GQL, SUBSCRIBE, add_input
from tests.api.test_subscriptions import collect, wait_for_subscribers, ws_url

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_is_up() -> bool:
    try:
        async with aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1) as r:
            return bool(await r.ping())
    except OSError:
        return False
    except aioredis.RedisError:
        return False


@pytest.fixture
async def replicas(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> tuple[TestClient, TestClient]:
    if not await redis_is_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    channel = f"agentmem:test:{uuid.uuid4().hex}"  # isolated from anything else on this Redis

    def settings(name: str) -> Settings:
        return Settings(data_dir=tmp_path / name, redis_url=REDIS_URL, redis_channel=channel,
                        replica_id=name, graph={"enabled": False}, auth={"mode": "development"})

    return await aiohttp_client(create_app(settings("a"))), await aiohttp_client(create_app(settings("b")))


async def test_a_change_through_one_replica_reaches_a_subscriber_on_the_other(
    replicas: tuple[TestClient, TestClient],
) -> None:
    a, b = GQL(replicas[0]), GQL(replicas[1])
    transport = WebsocketsTransport(url=ws_url(b.client), subprotocols=["graphql-transport-ws"])
    async with Client(transport=transport) as session:
        request = GraphQLRequest(SUBSCRIBE, variable_values={"scope": {"userId": "alice"}})
        received = asyncio.create_task(collect(session.subscribe(request), 2))
        await wait_for_subscribers(b, 1)
        id = (await a.data(ADD, input=add_input("made on replica a")))["addMemories"]["changes"][0]["id"]
        await a.data("mutation($id: ID!) { deleteMemory(id: $id) { id } }", id=id)
        events = await received
    assert [(e["kind"], e["memoryId"], e["origin"]) for e in events] == [("ADD", id, "a"), ("DELETE", id, "a")]
    assert events[0]["memory"]["text"] == "made on replica a"
    assert b.client.app[FANOUT_KEY].received == 2
    assert a.client.app[FANOUT_KEY].received == 0  # a replica ignores its own echo


async def test_local_subscribers_get_local_events_once(replicas: tuple[TestClient, TestClient]) -> None:
    a = GQL(replicas[0])
    async with a.service.events.subscribe() as stream:
        await a.data(ADD, input=add_input("first"))
        await a.data(ADD, input=add_input("second"))
        texts = []
        with contextlib.suppress(TimeoutError):
            while True:  # an echo through Redis would arrive as a third event
                texts.append((await asyncio.wait_for(anext(stream), 0.5)).memory.text)
    assert texts == ["first", "second"]
    assert a.client.app[FANOUT_KEY].received == 0


def test_events_survive_the_wire_format() -> None:
    now = utcnow()
    scope = Scope(user_id="u", agent_id="a")
    record = MemoryRecord("m1", "text", "h", scope, {"k": [1, {"x": None}]}, now, now, now, "why", ("c",))
    relation = Relation("alice", "LIVES_IN", "paris", scope, now, False, now, "m1")
    for event in (
        MemoryEvent(EventKind.UPDATE, scope, "m1", record, "old", at=now),
        MemoryEvent(EventKind.RELATION_INVALIDATED, scope, "m1", relation=relation, at=now),
        MemoryEvent(EventKind.RESET, Scope(), at=now),
    ):
        assert decode_event(encode_event(event, "r1")) == MemoryEvent(
            event.kind, event.scope, event.memory_id, event.memory, event.previous_text, event.relation, now, "r1"
        )


async def test_a_redis_outage_does_not_fail_writes(
    replicas: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a = GQL(replicas[0])
    fanout = a.client.app[FANOUT_KEY]

    async def down(*args: object, **kwargs: object) -> None:
        raise aioredis.ConnectionError("Connection refused")

    monkeypatch.setattr(fanout._redis, "publish", down)
    data = await a.data(ADD, input=add_input("written while Redis is down"))
    assert data["addMemories"]["changes"][0]["event"] == "ADD"
    assert "could not fan out" in caplog.text


async def test_a_memory_added_on_one_replica_is_searchable_on_the_other_once_its_event_arrives(
    pg_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    # pg_url first: its database is dropped after the replicas have closed, not under them
    if not await redis_is_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    channel = f"agentmem:test:{uuid.uuid4().hex}"

    def settings(name: str) -> Settings:
        # the safety-net poll is a minute away: only the event can bring the memory over in time
        return Settings(data_dir=tmp_path / name, database_url=pg_url, redis_url=REDIS_URL, redis_channel=channel,
                        replica_id=name, graph={"enabled": False}, auth={"mode": "development"},
                        memory={"sync_interval_s": 60})

    a = GQL(await aiohttp_client(create_app(settings("a"))))
    b = GQL(await aiohttp_client(create_app(settings("b"))))
    added = await a.data(ADD, input=add_input("Keeps a spare key under the blue flowerpot"))
    memory_id = added["addMemories"]["changes"][0]["id"]
    query = '{ search(query: "spare key", scope: {userId: "alice"}) { hits { memory { id } } } }'
    found: list[str] = []
    for _ in range(100):  # up to 10 s on a loaded machine; the poll would take 60
        found = [h["memory"]["id"] for h in (await b.data(query))["search"]["hits"]]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [memory_id]
