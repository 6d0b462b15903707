"""OpenTelemetry tracing of the real app: one trace per request, from the HTTP span through the
GraphQL operation and the core operation down to every store call; a caller's traceparent
continued; the trace id in the JSON log lines; spans exported over OTLP/HTTP to a collector."""
from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from gql import Client, GraphQLRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.keys import SERVICE_KEY
from app.ops.runtime import RUNTIME_KEY
from app.settings import Settings
from app.web import create_app
from tests.api.conftest import ClientFactory
from tests.api.ops import ADD, GQL, SEARCH, SUBSCRIBE, add_input
from tests.api.test_ops_observability import json_log, lines  # noqa: F401 - json_log is a fixture
from tests.api.test_subscriptions import transport, wait_for_subscribers
from tests.fixtures.openai_fake import FakeOpenAI
from tests.fixtures.otlp_fake import FakeCollector
from tests.fixtures.rerank_fake import FakeReranker

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def traced_settings(tmp_path: Path, *, tracing: dict[str, Any] | None = None, **other: Any) -> Settings:
    other.setdefault("graph", {"enabled": False})
    return Settings(data_dir=tmp_path, auth={"mode": "development"},
                    tracing={"enabled": True, **(tracing or {})}, **other)


async def traced_client(aiohttp_client: ClientFactory, settings: Settings) -> tuple[TestClient, InMemorySpanExporter]:
    app = create_app(settings)
    spans = InMemorySpanExporter()
    tracing = app[RUNTIME_KEY].tracing
    assert tracing is not None
    tracing.provider.add_span_processor(SimpleSpanProcessor(spans))  # each span as it ends
    return await aiohttp_client(app), spans


@pytest.fixture
async def traced(aiohttp_client: ClientFactory, tmp_path: Path) -> tuple[GQL, InMemorySpanExporter]:
    client, spans = await traced_client(aiohttp_client, traced_settings(tmp_path))
    return GQL(client), spans


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def below(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    direct = children(spans, parent)
    return direct + [s for child in direct for s in below(spans, child)]


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_a_graphql_add_is_one_trace_from_the_request_down_to_each_store_call(
    traced: tuple[GQL, InMemorySpanExporter]
) -> None:
    gql, exporter = traced
    await gql.data(ADD, input=add_input("I live in Paris"))
    spans = list(exporter.get_finished_spans())
    http = one(spans, "POST /graphql")
    assert http.parent is None and http.kind is SpanKind.SERVER
    assert http.attributes["http.request.method"] == "POST" and http.attributes["http.route"] == "/graphql"
    assert http.attributes["http.response.status_code"] == 200
    operation = one(spans, "mutation Add")
    assert children(spans, http) == [operation]
    assert operation.attributes["graphql.operation.type"] == "mutation"
    assert operation.attributes["graphql.operation.name"] == "Add"
    core = one(spans, "core add")
    assert core.parent.span_id == operation.context.span_id
    stores = below(spans, core)
    assert {"embedder embed", "sql commit", "vector upsert"} <= {s.name for s in stores}
    assert all(s.kind is SpanKind.CLIENT and s.status.status_code is StatusCode.UNSET for s in stores)
    assert {s.context.trace_id for s in spans} == {http.context.trace_id}  # nothing outside the trace
    assert "I live in Paris" not in repr([dict(s.attributes or {}) for s in spans])


async def test_a_search_traces_the_core_search_and_the_index_it_reads(traced: tuple[GQL, InMemorySpanExporter]) -> None:
    gql, exporter = traced
    await gql.data(ADD, input=add_input("I live in Paris"))
    exporter.clear()
    await gql.data(SEARCH, query="where do I live", scope={"userId": "alice"})
    spans = list(exporter.get_finished_spans())
    http = one(spans, "POST /graphql")
    search = one(spans, "core search")
    assert one(spans, "query Search").parent.span_id == http.context.span_id
    assert search.parent.span_id == one(spans, "query Search").context.span_id
    assert {"embedder embed", "vector nearest"} <= {s.name for s in below(spans, search)}


async def test_a_failed_operation_marks_its_spans_with_the_code_the_caller_got(
    traced: tuple[GQL, InMemorySpanExporter]
) -> None:
    gql, exporter = traced
    body = await gql('query Missing { history(memoryId: "nope") { event } }')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    missing = one(list(exporter.get_finished_spans()), "query Missing")
    assert missing.status.status_code is StatusCode.ERROR and missing.status.description == "NOT_FOUND"
    assert missing.attributes["agentmem.error_codes"] == ("NOT_FOUND",)
    exporter.clear()
    await gql("{ nope }")
    invalid = one(list(exporter.get_finished_spans()), "query anonymous")  # it parses; validation refuses it
    assert invalid.attributes["agentmem.error_codes"] == ("GRAPHQL_VALIDATION_FAILED",)


async def test_a_callers_traceparent_is_continued_and_its_sampling_decision_followed(
    traced: tuple[GQL, InMemorySpanExporter]
) -> None:
    gql, exporter = traced
    resp = await gql.client.post("/graphql", json={"query": ADD, "variables": {"input": add_input("tea")}},
                                 headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert resp.status == 200
    spans = list(exporter.get_finished_spans())
    http = one(spans, "POST /graphql")
    assert http.parent is not None and http.parent.is_remote and hex_id(http.parent.span_id, 16) == CALLER_SPAN
    assert {hex_id(s.context.trace_id, 32) for s in spans} == {CALLER_TRACE}
    assert "core add" in {s.name for s in spans}
    exporter.clear()
    # the caller recorded nothing of this trace: neither do we, at any depth
    await gql.client.post("/graphql", json={"query": ADD, "variables": {"input": add_input("coffee")}},
                          headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"})
    assert exporter.get_finished_spans() == ()


async def test_json_log_lines_in_a_request_carry_its_trace_and_span_ids(
    aiohttp_client: ClientFactory, tmp_path: Path, json_log: io.StringIO  # noqa: F811
) -> None:
    app = create_app(traced_settings(tmp_path))
    exporter = InMemorySpanExporter()
    app[RUNTIME_KEY].tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[union-attr]

    async def chatty(request: web.Request) -> web.Response:
        logging.getLogger("memory.somewhere").info("inside the handler")
        return web.json_response({})

    app.router.add_get("/chatty", chatty)
    client = await aiohttp_client(app)
    await client.get("/chatty", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "X-Request-ID": "r-1"})
    span = one(list(exporter.get_finished_spans()), "GET /chatty")
    mine = [r for r in lines(json_log) if r.get("request_id") == "r-1"]
    assert [r["message"] for r in mine] == ["inside the handler", "GET /chatty 200"]
    assert all(r["trace_id"] == CALLER_TRACE and r["span_id"] == hex_id(span.context.span_id, 16) for r in mine)
    assert span.attributes["agentmem.request_id"] == "r-1"
    started = [r for r in lines(json_log) if r["message"].startswith("vector index")]
    assert all("trace_id" not in r for r in started)  # start-up is no request


async def test_without_tracing_nothing_is_traced_or_wrapped_for_it(
    aiohttp_client: ClientFactory, tmp_path: Path, json_log: io.StringIO  # noqa: F811
) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"})
    client = await aiohttp_client(create_app(settings))
    runtime = client.app[RUNTIME_KEY]
    assert runtime.tracing is None
    assert client.app[SERVICE_KEY].observer is runtime.metrics  # metrics alone: no composite, no span observer
    assert [m.__name__ for m in client.app.middlewares if "trace" in m.__name__] == []
    await GQL(client).data(ADD, input=add_input("tea"))
    await client.get("/health/live", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert not any("trace_id" in r for r in lines(json_log))


async def test_llm_and_reranker_calls_are_spans_of_the_operation_that_made_them(
    aiohttp_client: ClientFactory, tmp_path: Path, fake_openai: FakeOpenAI, fake_reranker: FakeReranker
) -> None:
    settings = traced_settings(tmp_path, llm={"base_url": fake_openai.base_url},
                               reranker={"base_url": fake_reranker.base_url})
    client, exporter = await traced_client(aiohttp_client, settings)
    gql = GQL(client)
    fake_openai.script_chat(['{"facts": []}'])
    await gql.data(ADD, input={**add_input("I drink tea every morning"), "infer": True})
    spans = list(exporter.get_finished_spans())
    assert "llm complete_json" in {s.name for s in below(spans, one(spans, "core add"))}
    await gql.data(ADD, input=add_input("I drink tea every morning"))
    exporter.clear()
    await gql.data(SEARCH, query="tea", scope={"userId": "alice"})
    spans = list(exporter.get_finished_spans())
    assert "reranker rerank" in {s.name for s in below(spans, one(spans, "core search"))}
    assert len(fake_reranker.requests) == 1


async def test_spans_are_posted_to_the_otlp_endpoint_and_flushed_when_the_app_stops(
    aiohttp_client: ClientFactory, tmp_path: Path, otlp_collector: FakeCollector
) -> None:
    settings = traced_settings(tmp_path, tracing={"otlp_endpoint": otlp_collector.url, "service_name": "agentmem-test",
                                                  "headers": {"x-collector-key": "k-123"}})
    client = await aiohttp_client(create_app(settings))
    await GQL(client).data(ADD, input=add_input("I live in Paris"))
    await client.close()  # the app's cleanup flushes the batch
    assert len(otlp_collector.exports) >= 1
    assert {"POST /graphql", "mutation Add", "core add", "sql commit"} <= set(otlp_collector.span_names)
    assert all(e.headers.get("x-collector-key") == "k-123" for e in otlp_collector.exports)
    assert {name for e in otlp_collector.exports for name in e.service_names} == {"agentmem-test"}


def test_an_otlp_endpoint_must_be_an_http_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tracing.otlp_endpoint must be an http"):
        traced_settings(tmp_path, tracing={"otlp_endpoint": "grpc://collector:4317"})


async def test_graph_store_calls_are_spans_too(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = traced_settings(tmp_path, graph={"enabled": True, "embedded_heap_mb": 256})
    client, exporter = await traced_client(aiohttp_client, settings)
    gql = GQL(client)
    added = await gql.data(ADD, input={**add_input("I live in Paris"), "infer": True})
    assert added["addMemories"]["relationsAdded"] and not added["addMemories"]["graphPending"]
    exporter.clear()
    await gql.data('{ search(query: "where do I live", scope: {userId: "alice"}) { relations { destination } } }')
    spans = list(exporter.get_finished_spans())
    graph = [s for s in below(spans, one(spans, "core search")) if s.attributes["agentmem.layer"] == "graph"]
    assert "graph relations_for" in {s.name for s in graph}


async def test_a_subscription_is_a_span_inside_its_websocket_connection(traced: tuple[GQL, InMemorySpanExporter]) -> None:
    gql, exporter = traced
    async with Client(transport=transport(gql.client)) as session:
        stream = session.subscribe(GraphQLRequest(SUBSCRIBE))
        first = asyncio.create_task(anext(aiter(stream)))
        await wait_for_subscribers(gql, 1)
        await gql.data(ADD, input=add_input("an event"))
        await asyncio.wait_for(first, 10)
    async with asyncio.timeout(10):  # the server ends the connection's span once it has seen it close
        while "GET /graphql" not in {s.name for s in exporter.get_finished_spans()}:
            await asyncio.sleep(0.02)
    spans = list(exporter.get_finished_spans())
    connection = one(spans, "GET /graphql")
    assert connection.attributes["http.response.status_code"] == 101
    assert one(spans, "subscription Events").parent.span_id == connection.context.span_id
