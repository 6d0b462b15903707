"""GET /v1/events, read as `curl -N` would (raw lines): authentication, scope, kinds,
Last-Event-ID resume from the replay buffer and what a client is told when it missed events,
keep-alive, clean-up of closed streams (also under a plain AppRunner, as `serve` runs), and
GraphQL over SSE receiving another replica's events through Redis."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.graphql.sse import STREAM_PATH
from app.keys import SERVICE_KEY
from app.settings import Settings
from app.streams import SLOTS_KEY, frame
from app.web import create_app
from tests.api.authkit import Caller, make_key, secure_settings
from tests.api.ops import ADD, GQL, add_input
from tests.api.sse import Message, next_event, read_message, wait_until
from tests.api.test_cli import free_port
from tests.api.test_fanout import REDIS_URL, redis_is_up

ClientFactory = Callable[..., Awaitable[TestClient]]
EVENTS = "/v1/events"


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = secure_settings(tmp_path, limits={"keep_alive_s": 0.3, "subscriptions_per_principal": 1},
                               events={"replay_buffer": 3})
    return await aiohttp_client(create_app(settings))


async def add(caller: Caller, text: str, user: str = "alice") -> str:
    data = await caller.data(ADD, input=add_input(text, user=user))
    return str(data["addMemories"]["changes"][0]["id"])


async def events(response: aiohttp.ClientResponse, count: int) -> list[Message]:
    return [await next_event(response) for _ in range(count)]


async def test_a_stream_carries_id_event_and_json_data_in_the_callers_scope(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    admin = Caller(client, await make_key(client.app, "admin"))
    async with client.get(EVENTS, headers={"Authorization": f"Bearer {alice}"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert (await read_message(resp)).comment == "connected"  # sent at once: curl shows the stream is up
        await add(admin, "bob's secret", user="bob")
        id = await add(admin, "alice likes tea")
        (message,) = await events(resp, 1)
    assert message.event == "ADD" and message.id
    body = message.json()
    assert (body["id"], body["memory_id"], body["user_id"]) == (message.id, id, "alice")
    assert body["memory"]["memory"] == "alice likes tea" and body["previous_text"] is None


async def test_without_a_credential_it_is_a_401_json_answer(client: TestClient) -> None:
    resp = await client.get(EVENTS)
    assert resp.status == 401 and resp.headers["Content-Type"].startswith("application/json")
    assert (await resp.json())["code"] == "UNAUTHENTICATED"


async def test_asking_for_someone_elses_scope_is_forbidden(client: TestClient) -> None:
    alice = await make_key(client.app, "user", user_id="alice")
    resp = await client.get(EVENTS, params={"user_id": "bob"}, headers={"X-API-Key": alice})
    assert resp.status == 403 and (await resp.json())["code"] == "FORBIDDEN"
    resp = await client.get(EVENTS, params={"events": "NOPE"}, headers={"X-API-Key": alice})
    assert resp.status == 400 and "events" in (await resp.json())["detail"]


async def test_scope_and_kind_parameters_narrow_an_admins_stream(client: TestClient) -> None:
    admin_key = await make_key(client.app, "admin")
    admin = Caller(client, admin_key)
    params = {"user_id": "alice", "events": ["DELETE"]}
    async with client.get(EVENTS, params=params, headers={"X-API-Key": admin_key}) as resp:
        await read_message(resp)
        id = await add(admin, "short-lived")
        await add(admin, "bob's", user="bob")
        await admin.data("mutation($id: ID!) { deleteMemory(id: $id) { id } }", id=id)
        (message,) = await events(resp, 1)
    assert (message.event, message.json()["memory_id"]) == ("DELETE", id)


async def test_last_event_id_resumes_after_the_last_event_seen(client: TestClient) -> None:
    alice_key = await make_key(client.app, "user", user_id="alice")
    alice = Caller(client, alice_key)
    async with client.get(EVENTS, headers={"X-API-Key": alice_key}) as resp:
        await read_message(resp)
        await add(alice, "one")
        (first,) = await events(resp, 1)
    await wait_until(lambda: client.app[SLOTS_KEY].total == 0)
    await add(alice, "two")  # while disconnected
    await add(alice, "three")
    async with client.get(EVENTS, headers={"X-API-Key": alice_key, "Last-Event-ID": first.id or ""}) as resp:
        replayed = await events(resp, 2)
        await add(alice, "four")  # and then live, with nothing lost in between
        (live,) = await events(resp, 1)
    assert [m.json()["memory"]["memory"] for m in [*replayed, live]] == ["two", "three", "four"]


async def test_a_client_behind_the_replay_buffer_is_told_it_missed_events(client: TestClient) -> None:
    alice_key = await make_key(client.app, "user", user_id="alice")
    alice = Caller(client, alice_key)
    async with client.get(EVENTS, headers={"X-API-Key": alice_key}) as resp:
        await read_message(resp)
        await add(alice, "seen")
        (seen,) = await events(resp, 1)
    await wait_until(lambda: client.app[SLOTS_KEY].total == 0)
    for text in ("a", "b", "c", "d"):  # the buffer keeps 3
        await add(alice, text)
    async with client.get(EVENTS, params={"last_event_id": seen.id or ""}, headers={"X-API-Key": alice_key}) as resp:
        missed, *kept = await events(resp, 4)
    assert missed.event == "missed" and missed.id is None
    assert missed.json()["reason"] == "expired" and missed.json()["last_event_id"] == seen.id
    assert missed.json()["oldest_id"] == kept[0].id and "missed" in missed.json()["detail"]
    assert [m.json()["memory"]["memory"] for m in kept] == ["b", "c", "d"]


async def test_an_id_from_another_run_is_reported_unknown(client: TestClient) -> None:
    alice_key = await make_key(client.app, "user", user_id="alice")
    async with client.get(EVENTS, headers={"X-API-Key": alice_key, "Last-Event-ID": "0badc0de-7"}) as resp:
        (missed,) = await events(resp, 1)
    assert (missed.event, missed.json()["reason"]) == ("missed", "unknown")


async def test_idle_streams_get_keep_alive_comments_and_one_slot_per_cap(client: TestClient) -> None:
    alice_key = await make_key(client.app, "user", user_id="alice")
    async with client.get(EVENTS, headers={"X-API-Key": alice_key}) as resp:
        assert [(await read_message(resp, timeout=5)).comment for _ in range(2)] == ["connected", "keep-alive"]
        second = await client.get(EVENTS, headers={"X-API-Key": alice_key})  # subscriptions_per_principal: 1
        assert second.status == 429 and (await second.json())["code"] == "LIMIT_EXCEEDED"
    await wait_until(lambda: client.app[SLOTS_KEY].total == 0)


async def test_keep_alive_still_comes_while_only_other_scopes_are_busy(client: TestClient) -> None:
    alice_key = await make_key(client.app, "user", user_id="alice")
    admin = Caller(client, await make_key(client.app, "admin"))

    async def busy() -> None:  # every add wakes alice's stream, and none is hers
        while True:
            await add(admin, "bob's", user="bob")

    async with client.get(EVENTS, headers={"X-API-Key": alice_key}) as resp:
        await read_message(resp)
        traffic = asyncio.create_task(busy())
        try:
            message = await read_message(resp, timeout=5)
        finally:
            traffic.cancel()
            await asyncio.gather(traffic, return_exceptions=True)
    assert (message.event, message.comment) == (None, "keep-alive")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    """The app under a plain AppRunner, as `python -m app serve` runs it: aiohttp does not
    cancel a handler whose client went away, so the stream has to notice by itself."""
    app = create_app(secure_settings(tmp_path, limits={"keep_alive_s": 60}))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def test_a_closed_client_is_noticed_without_handler_cancellation(served: tuple[str, web.Application]) -> None:
    url, app = served
    key = await make_key(app, "user", user_id="alice")
    bus = app[SERVICE_KEY].events
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        rest = await http.get(url + EVENTS)
        graphql = await http.post(url + STREAM_PATH, headers={"Accept": "text/event-stream"},
                                  json={"query": "subscription { memoryEvents { kind } }"})
        await wait_until(lambda: bus.subscriber_count == 1 and app[SLOTS_KEY].total == 2)
        rest.close()
        graphql.close()
        # keep-alive is a minute away: the poll for a closed connection finds them
        await wait_until(lambda: bus.subscriber_count == 0 and app[SLOTS_KEY].total == 0, timeout=5)


async def test_graphql_sse_subscribers_get_events_made_on_another_replica(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    if not await redis_is_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    channel = f"agentmem:test:{uuid.uuid4().hex}"

    def settings(name: str) -> Settings:
        return Settings(data_dir=tmp_path / name, redis_url=REDIS_URL, redis_channel=channel, replica_id=name,
                        graph={"enabled": False}, auth={"mode": "development"})

    a = GQL(await aiohttp_client(create_app(settings("a"))))
    b = await aiohttp_client(create_app(settings("b")))
    query = {"query": "subscription { memoryEvents { kind origin memory { text } } }"}
    async with b.post(STREAM_PATH, json=query, headers={"Accept": "text/event-stream"}) as stream, \
            b.get(EVENTS) as rest:
        await wait_until(lambda: b.app[SERVICE_KEY].events.subscriber_count == 1)
        await a.data(ADD, input=add_input("made on replica a"))
        over_graphql = (await next_event(stream)).json()["data"]["memoryEvents"]
        over_rest = (await next_event(rest)).json()
    assert over_graphql == {"kind": "ADD", "origin": "a", "memory": {"text": "made on replica a"}}
    assert (over_rest["event"], over_rest["origin"], over_rest["memory"]["memory"]) == ("ADD", "a", "made on replica a")


def test_event_data_is_one_json_line() -> None:
    assert frame("next", json.dumps({"a": "x\ny"})) == b'event: next\ndata: {"a": "x\\ny"}\n\n'
    assert frame("complete", "") == b"event: complete\ndata:\n\n"
    assert frame(None, "two\nlines", id="e-1") == b"id: e-1\ndata: two\ndata: lines\n\n"
