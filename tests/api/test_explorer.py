"""The explorer's static route: the page and only the whitelisted files, under a CSP that allows
this origin alone, with cache headers; no credential needed to load it; configurable off.
(The page itself runs in tests/api/test_explorer_browser.py.)"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from app import explorer
from app.explorer import EXPLORER_DIR, PAGE_FILES, VENDOR
from app.settings import Settings
from app.web import create_app
from tests.api.authkit import secure_settings

ClientFactory = Callable[..., Awaitable[TestClient]]
installed = pytest.mark.skipif(not (EXPLORER_DIR / "node_modules").is_dir(),
                               reason="run `npm ci --prefix app/static/explorer`")


@installed
async def test_the_page_is_served_under_a_csp_that_allows_this_origin_only(client: TestClient) -> None:
    resp = await client.get("/explorer", allow_redirects=False)
    assert resp.status == 308 and resp.headers["Location"] == "/explorer/"
    resp = await client.get("/explorer/")
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = dict(part.strip().split(" ", 1) for part in resp.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and "unsafe" not in resp.headers["Content-Security-Policy"]
    assert not re.search(r"https?://|wss?://", resp.headers["Content-Security-Policy"])
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Cache-Control"] == "no-cache"


async def test_the_page_loads_only_files_the_route_serves() -> None:
    page = (EXPLORER_DIR / "index.html").read_text()
    linked = set(re.findall(r'(?:src|href)="([^"]+)"', page)) - {"data:,"}
    assert linked == {"explorer.css", "app.js"} | {f"vendor/{name}" for name in VENDOR}
    imported = {name for path in EXPLORER_DIR.glob("*.js") for name in re.findall(r'from "\./([^"]+)"', path.read_text())}
    own = {p.name for p in EXPLORER_DIR.iterdir() if p.suffix in (".js", ".css", ".html")}
    assert imported <= own and own == PAGE_FILES  # the whitelist names every file of the page, and no other


@pytest.mark.parametrize("name", sorted(PAGE_FILES - {"index.html"}))
async def test_each_file_of_the_page_is_served_for_revalidation(client: TestClient, name: str) -> None:
    resp = await client.get(f"/explorer/{name}")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
    assert resp.content_type == ("text/css" if name.endswith(".css") else "text/javascript")
    assert "Last-Modified" in resp.headers and "Content-Security-Policy" in resp.headers


@installed
@pytest.mark.parametrize("name", sorted(VENDOR))
async def test_the_libraries_come_from_node_modules_and_are_cached(client: TestClient, name: str) -> None:
    resp = await client.get(f"/explorer/vendor/{name}")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["Cache-Control"] == "public, max-age=86400"
    assert await resp.read() == (EXPLORER_DIR / "node_modules" / VENDOR[name]).read_bytes()


@pytest.mark.parametrize("path", [
    "/explorer/package.json", "/explorer/package-lock.json", "/explorer/vendor/graphql.js",
    "/explorer/node_modules/cytoscape/package.json", "/explorer/..%2Fexplorer.py", "/explorer/vendor/..%2Fapp.js",
])
async def test_nothing_outside_the_whitelist_is_served(client: TestClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404


async def test_a_missing_install_is_explained(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "explorer"
    shutil.copytree(EXPLORER_DIR, bare, ignore=shutil.ignore_patterns("node_modules"))
    monkeypatch.setattr(explorer, "EXPLORER_DIR", bare)
    resp = await client.get("/explorer/")
    assert resp.status == 503 and "npm ci --prefix app/static/explorer" in await resp.text()
    resp = await client.get("/explorer/vendor/cytoscape.js")
    assert resp.status == 404 and "npm ci" in await resp.text()


@installed
async def test_the_page_needs_no_credential_but_the_api_does(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path)))
    assert (await client.get("/explorer/")).status == 200
    assert (await client.get("/explorer/vendor/cytoscape.js")).status == 200
    assert (await client.get("/v1/entities/")).status == 401  # what the page calls next wants the key


async def test_the_explorer_can_be_turned_off(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"},
                        explorer={"enabled": False})
    client = await aiohttp_client(create_app(settings))
    for path in ("/explorer", "/explorer/", "/explorer/app.js", "/explorer/vendor/cytoscape.js"):
        assert (await client.get(path, allow_redirects=False)).status == 404
