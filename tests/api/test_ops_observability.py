"""Request ids, structured logs and Prometheus metrics of the real app."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from gql import Client, GraphQLRequest

from app.ops import logs
from app.ops.metrics import Metrics
from app.settings import Settings
from app.web import create_app
from tests.api.conftest import ClientFactory
from tests.api.ops import ADD, GQL, SEARCH, SUBSCRIBE, add_input
from tests.api.test_subscriptions import transport, wait_for_subscribers

SECRET_TEXT = "zebra-lasagne-4471 is my bank PIN"


@pytest.fixture
def service_settings(tmp_path: Any) -> Settings:
    """As tests/api/conftest.py's, with the store counts read at every scrape (not cached)."""
    return Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"}, metrics={"cache_s": 0})


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's log lines, as the service writes them in production (JSON, INFO)."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.configure("INFO", "json", stream=stream)
    try:
        yield stream
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "agentmem"]:
            root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def sample(text: str, series: str, /, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith((series + "{", series + " ")):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def scrape(client: TestClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    return await resp.text()


async def test_a_request_id_is_taken_from_the_caller_or_made_and_always_returned(client: TestClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "trace-42.a"})
    assert given.headers["X-Request-ID"] == "trace-42.a"
    made = await client.post("/graphql", json={"query": "{ __typename }"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    # a hostile id (header injection, huge) is replaced, not echoed
    odd = await client.get("/health/live", headers={"X-Request-ID": "x" * 500})
    assert odd.headers["X-Request-ID"] != "x" * 500
    missing = await client.get("/no/such/route", headers={"X-Request-ID": "r-404"})
    assert missing.status == 404 and missing.headers["X-Request-ID"] == "r-404"


async def test_json_log_lines_carry_the_request_id_principal_and_operation(
    aiohttp_client: ClientFactory, service_settings: Settings, json_log: io.StringIO
) -> None:
    app = create_app(service_settings)

    async def chatty(request: web.Request) -> web.Response:
        logging.getLogger("memory.somewhere").info("inside the handler")
        await asyncio.sleep(0)  # the context survives awaits
        logging.getLogger("graph.elsewhere").warning("still inside")
        return web.json_response({})

    app.router.add_get("/chatty", chatty)
    client = await aiohttp_client(app)
    await client.get("/chatty", headers={"X-Request-ID": "req-chatty"})
    await GQL(client).data("query Probe { __typename }")
    records = lines(json_log)
    mine = [r for r in records if r.get("request_id") == "req-chatty"]
    assert [r["message"] for r in mine] == ["inside the handler", "still inside", "GET /chatty 200"]
    access = mine[-1]
    assert access["status"] == 200 and access["route"] == "/chatty" and access["latency_ms"] >= 0
    assert {"time", "level", "logger"} <= access.keys()
    probe = next(r for r in records if r.get("route") == "/graphql")
    assert probe["operation"] == "query Probe" and probe["principal"] == "development"
    assert all(r.get("request_id") is None for r in records if r["message"].startswith("vector index"))


async def test_no_memory_text_reaches_the_log_at_info(gql: GQL, json_log: io.StringIO) -> None:
    added = await gql.data(ADD, input=add_input(SECRET_TEXT))
    id = added["addMemories"]["changes"][0]["id"]
    await gql.data(ADD, input={**add_input(SECRET_TEXT + " again"), "infer": True})
    await gql.data(SEARCH, query=SECRET_TEXT, scope={"userId": "alice"})
    await gql.data('mutation($id: ID!) { updateMemory(input: {id: $id, text: "zebra-lasagne-4471 v2"}) { id } }', id=id)
    await gql(f'{{ memory(id: "{SECRET_TEXT}") {{ id }} }}')
    await gql.data("mutation($id: ID!) { deleteMemory(id: $id) { id } }", id=id)
    text = json_log.getvalue()
    assert text  # the access lines are there...
    assert "zebra-lasagne" not in text  # ...without the text


async def test_metrics_move_with_traffic(gql: GQL) -> None:
    client = gql.client
    before = await scrape(client)
    assert sample(before, "agentmem_items", kind="memories") == 0
    await gql.data(ADD, input=add_input("I live in Paris"))
    await gql.data(ADD, input=add_input("I work at Acme"))
    await gql.data(SEARCH, query="where do I live", scope={"userId": "alice"})
    missing = await gql('query Missing { history(memoryId: "nope") { event } }')
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await gql("{ nope }")
    text = await scrape(client)
    assert sample(text, "agentmem_http_requests_total", route="/graphql", method="POST", status="200") >= 5
    assert sample(text, "agentmem_http_request_duration_seconds_count", route="/graphql", method="POST") >= 5
    assert sample(text, "agentmem_graphql_operations_total", type="mutation", name="Add") == 2
    assert sample(text, "agentmem_graphql_operations_total", type="query", name="Search") == 1
    assert sample(text, "agentmem_graphql_errors_total", code="NOT_FOUND") == 1
    assert sample(text, "agentmem_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert sample(text, "agentmem_core_operations_total", operation="add", outcome="ok") == 2
    assert sample(text, "agentmem_core_operations_total", operation="search", outcome="ok") == 1
    assert sample(text, "agentmem_core_operation_duration_seconds_count", operation="add") == 2
    assert sample(text, "agentmem_embedding_batch_size_count") >= 3
    assert sample(text, "agentmem_embedding_batch_duration_seconds_sum") > 0
    assert sample(text, "agentmem_store_call_duration_seconds_count", store="sql", operation="commit") == 2
    assert sample(text, "agentmem_store_call_duration_seconds_count", store="vector", operation="nearest") >= 1
    assert sample(text, "agentmem_items", kind="memories") == 2
    assert sample(text, "agentmem_graph_outbox_backlog") == 0
    assert "agentmem_rate_limited_total" in text or "agentmem_rate_limited" in text


async def test_websocket_connections_and_subscriptions_are_gauges(gql: GQL) -> None:
    async with Client(transport=transport(gql.client)) as session:
        stream = session.subscribe(GraphQLRequest(SUBSCRIBE))
        task = asyncio.create_task(anext(aiter(stream)))
        await wait_for_subscribers(gql, 1)
        text = await scrape(gql.client)
        assert sample(text, "agentmem_websocket_connections") == 1
        assert sample(text, "agentmem_subscriptions") == 1
        await gql.data(ADD, input=add_input("an event"))
        await asyncio.wait_for(task, 10)
    async with asyncio.timeout(10):
        while sample(await scrape(gql.client), "agentmem_websocket_connections") != 0:
            await asyncio.sleep(0.05)
    assert sample(await scrape(gql.client), "agentmem_subscriptions") == 0


async def test_two_apps_in_one_process_keep_separate_registries(
    aiohttp_client: ClientFactory, service_settings: Settings, tmp_path: Any
) -> None:
    one = await aiohttp_client(create_app(service_settings))
    two = await aiohttp_client(create_app(service_settings.model_copy(update={"data_dir": tmp_path / "two"})))
    await one.get("/health/live")
    await one.get("/health/live")
    await two.get("/health/live")
    route = {"route": "/health/live", "method": "GET", "status": "200"}
    assert sample(await scrape(one), "agentmem_http_requests_total", **route) == 2
    assert sample(await scrape(two), "agentmem_http_requests_total", **route) == 1


def test_refusals_with_429_count_as_rate_limited() -> None:
    metrics = Metrics()
    metrics.http_request("/graphql", "POST", 429, 0.001)
    metrics.graphql_operation("query", "Q", 0.001, ["RATE_LIMITED"])
    text = metrics.render().decode()
    assert sample(text, "agentmem_rate_limited_total", edge="http") == 1
    assert sample(text, "agentmem_rate_limited_total", edge="graphql") == 1


def test_client_chosen_operation_names_are_bounded() -> None:
    metrics = Metrics()
    for i in range(300):
        metrics.graphql_operation("query", f"Op{i}", 0.001, [])
    text = metrics.render().decode()
    assert sample(text, "agentmem_graphql_operations_total", type="query", name="other") == 100

