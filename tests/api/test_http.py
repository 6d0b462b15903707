"""GraphQL over HTTP: requests that are not GraphQL get an HTTP 4xx with a JSON body;
GraphiQL and its assets are served locally."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from app.graphql.view import ASSETS, GRAPHIQL_DIR
from app.settings import Settings
from app.web import create_app

assets_installed = pytest.mark.skipif(
    not (GRAPHIQL_DIR / "node_modules").is_dir(), reason="run `npm ci --prefix app/static/graphiql`"
)


async def json_error(resp: ClientResponse, status: int, code: str) -> str:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    (error,) = (await resp.json())["errors"]
    assert error["extensions"]["code"] == code
    return str(error["message"])


async def test_malformed_json_is_a_json_400(client: TestClient) -> None:
    resp = await client.post("/graphql", data=b'{"query": "{ memories', headers={"Content-Type": "application/json"})
    assert "JSON" in await json_error(resp, 400, "BAD_REQUEST")


async def test_a_body_that_is_not_an_operation_is_a_json_400(client: TestClient) -> None:
    resp = await client.post("/graphql", json={"query": 42})
    assert "query" in await json_error(resp, 400, "BAD_REQUEST")
    resp = await client.post("/graphql", json={"variables": {}})
    assert "No GraphQL query" in await json_error(resp, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_a_wrong_content_type_is_a_json_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"query": "{ __typename }"}'
    resp = await client.post("/graphql", data=body, headers=headers, skip_auto_headers={"Content-Type"})
    assert "application/json" in await json_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_a_charset_is_accepted(client: TestClient) -> None:
    resp = await client.post(
        "/graphql", data=b'{"query": "{ __typename }"}', headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert resp.status == 200 and (await resp.json())["data"] == {"__typename": "Query"}


async def test_an_oversize_body_is_a_json_413(client: TestClient, service_settings: Settings) -> None:
    big = b'{"query": "{ __typename }", "variables": {"pad": "' + b"x" * service_settings.max_body_bytes + b'"}}'
    resp = await client.post("/graphql", data=big, headers={"Content-Type": "application/json"})
    assert "larger than" in await json_error(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_an_oversize_chunked_body_is_a_json_413(client: TestClient, service_settings: Settings) -> None:
    async def chunks():  # no Content-Length: the limit applies while reading
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(service_settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    resp = await client.post("/graphql", data=chunks(), headers={"Content-Type": "application/json"})
    await json_error(resp, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_a_json_405(client: TestClient, method: str) -> None:
    resp = await client.request(method, "/graphql", json={"query": "{ __typename }"})
    await json_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert resp.headers["Allow"] == "GET, POST"


async def test_mutations_over_get_are_refused(client: TestClient) -> None:
    resp = await client.get("/graphql", params={"query": "mutation { resetMemories }"})
    assert "mutation" in (await json_error(resp, 400, "BAD_REQUEST")).lower()


async def test_get_with_bad_variables_json_is_a_json_400(client: TestClient) -> None:
    resp = await client.get("/graphql", params={"query": "{ __typename }", "variables": "{nope"})
    await json_error(resp, 400, "BAD_REQUEST")


async def test_health_reports_every_component(client: TestClient) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["components"]["sql"]["status"] == "up"


@assets_installed
async def test_a_browser_get_shows_graphiql_with_local_assets_only(client: TestClient) -> None:
    resp = await client.get("/graphql", headers={"Accept": "text/html"})
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "GraphiQL.createFetcher" in page and '"/graphql"' in page
    assert "http://" not in page and "https://" not in page
    linked = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sorted(linked) == sorted(f"/graphiql/assets/{name}" for name in ASSETS)


@assets_installed
@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_graphiql_assets_are_served(client: TestClient, name: str) -> None:
    resp = await client.get(f"/graphiql/assets/{name}")
    assert resp.status == 200
    assert resp.content_type == ("text/css" if name.endswith(".css") else "text/javascript")
    assert len(await resp.read()) > 1000


async def test_unknown_assets_are_404(client: TestClient) -> None:
    for name in ("nope.js", "..%2F..%2Fpackage.json"):
        resp = await client.get(f"/graphiql/assets/{name}")
        assert resp.status == 404


async def test_graphiql_can_be_turned_off(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, graphiql=False, graph={"enabled": False}, auth={"mode": "development"})
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/graphql", headers={"Accept": "text/html"})
    await json_error(resp, 404, "NOT_FOUND")


async def test_graphiql_without_its_assets_says_how_to_install_them(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("app.graphql.view.GRAPHIQL_DIR", tmp_path)
    resp = await client.get("/graphql", headers={"Accept": "text/html"})
    assert resp.status == 503 and "npm ci --prefix app/static/graphiql" in await resp.text()
    resp = await client.get("/graphiql/assets/graphiql.js")
    assert "npm ci" in await json_error(resp, 404, "NOT_FOUND")
