"""/metrics costs the stores little however often it is scraped, and can be kept from the API's
callers: behind a token, or on a port of its own."""
from __future__ import annotations

from pathlib import Path

import aiohttp

from app.settings import Settings
from app.web import create_app
from tests.api.conftest import ClientFactory
from tests.api.ops import ADD, GQL, add_input
from tests.api.test_cli import free_port
from tests.api.test_ops_observability import sample
from tests.api.test_ops_serve import poll, start


def settings(tmp_path: Path, **metrics: object) -> Settings:
    return Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"}, metrics=metrics)


async def test_store_counts_are_reused_between_scrapes_while_traffic_counters_move(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(settings(tmp_path, cache_s=3600)))
    first = await (await client.get("/metrics")).text()
    assert sample(first, "agentmem_items", kind="memories") == 0
    await GQL(client).data(ADD, input=add_input("I live in Paris"))
    second = await (await client.get("/metrics")).text()
    assert sample(second, "agentmem_items", kind="memories") == 0  # the counts were not run again
    assert sample(second, "agentmem_core_operations_total", operation="add", outcome="ok") == 1


async def test_a_metrics_token_keeps_callers_without_it_out(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(settings(tmp_path, token="scrape-me-please")))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-not"})
    assert wrong.status == 401 and (await wrong.json())["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert right.status == 200 and "agentmem_http_requests_total" in await right.text()


async def test_metrics_on_their_own_port_are_not_on_the_api_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    server = await start("--set", f"data_dir={tmp_path}", "--set", "auth.mode=development",
                         "--set", "graph.enabled=false", "--set", f"metrics.port={metrics_port}")
    try:
        async with aiohttp.ClientSession() as http:
            await poll(http, server, "/health/ready", 200)
            await server.wait_for_line("metrics on")
            async with http.get(server.url("/metrics")) as resp:
                assert resp.status == 404
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                assert resp.status == 200 and "agentmem_http_requests_total" in await resp.text()
    finally:
        assert await server.stop() == 0
