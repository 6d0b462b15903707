"""/openapi.json is a valid OpenAPI 3.1 document generated from the route table and the models
the handlers validate with; /docs renders it from local assets."""
from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from app.rest.docs import APIDOCS_DIR, ASSETS
from app.rest.errors import REST_PREFIXES
from app.rest.openapi import REF
from app.rest.requests import AddRequest, SearchRequest
from app.rest.responses import SearchResponse
from app.rest.routes import ROUTES
from tests.rest.conftest import ok

assets_installed = pytest.mark.skipif(
    not (APIDOCS_DIR / "node_modules").is_dir(), reason="run `npm ci --ignore-scripts --prefix app/static/apidocs`"
)


async def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    doc = await ok(await client.get("/openapi.json"))
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


async def test_every_rest_route_is_documented_and_nothing_else(client: TestClient) -> None:
    doc = await ok(await client.get("/openapi.json"))
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    served = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(REST_PREFIXES) and route.method != "HEAD"
    }
    assert documented == served
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_schemas_are_the_models_the_handlers_validate_with(client: TestClient) -> None:
    doc = await ok(await client.get("/openapi.json"))
    schemas = doc["components"]["schemas"]
    for model, mode in ((AddRequest, "validation"), (SearchRequest, "validation"), (SearchResponse, "serialization")):
        generated = model.model_json_schema(ref_template=REF, mode=mode)
        generated.pop("$defs", None)
        assert schemas[model.__name__] == generated
    add = doc["paths"]["/v1/memories"]["post"]
    assert add["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF.format(model="AddRequest")}
    assert set(add["responses"]) >= {"200", "400", "401", "403", "404", "429", "503", "default"}
    assert "Retry-After" in add["responses"]["429"]["headers"]
    delete = doc["paths"]["/v1/memories/{memory_id}"]["delete"]
    assert {(p["name"], p["in"]) for p in delete["parameters"]} == {("memory_id", "path"), ("delete_linked", "query"),
                                                                 ("purge", "query")}


async def test_the_filter_grammar_is_documented(client: TestClient) -> None:
    doc = await ok(await client.get("/openapi.json"))
    assert "icontains" in doc["info"]["description"] and "wildcard" in doc["info"]["description"]
    assert "mem0Token" in doc["components"]["securitySchemes"]


def test_route_paths_are_unique_per_method() -> None:
    seen = [(route.method, path) for route in ROUTES for path in route.paths]
    assert len(seen) == len(set(seen))


@assets_installed
async def test_docs_page_uses_only_local_assets(client: TestClient) -> None:
    resp = await client.get("/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert not re.search(r"(src|href)=\"https?://", page), "the page must not load anything from elsewhere"
    assert '"/openapi.json"' in page and "validatorUrl: null" in page
    for name in ASSETS:
        asset = await client.get(f"/docs/assets/{name}")
        assert asset.status == 200 and asset.content_type in ("text/javascript", "text/css")
        assert len(await asset.read()) > 10_000
    assert (await client.get("/docs/assets/../../settings.py")).status == 404
    assert (await client.get("/docs/assets/index.html")).status == 404
