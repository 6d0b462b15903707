"""The explorer at /explorer/: memories, the graph and live events in a browser.

The page is plain ES modules in app/static/explorer; its two libraries (cytoscape, graphql-ws)
come from that folder's node_modules (`npm ci`). Only whitelisted files are served, under a CSP
that allows nothing but this origin. No data passes here: the page calls /graphql (and the owners
endpoint /v1/entities) with the key the person signs in with, so it sees what that key may see."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

EXPLORER_DIR = Path(__file__).resolve().parent / "static" / "explorer"
ROUTE = "/explorer"
INSTALL_HINT = "The explorer's libraries are not installed: run `npm ci --prefix app/static/explorer`."
# the page's own files (served as they are in EXPLORER_DIR)
PAGE_FILES = frozenset({
    "index.html", "explorer.css", "app.js", "gql.js", "auth.js", "scope.js", "memories.js", "history.js",
    "graph.js", "live.js", "edit.js", "dialog.js",
})
# public name -> file inside node_modules
VENDOR = {
    "cytoscape.js": "cytoscape/dist/cytoscape.min.js",
    "graphql-ws.js": "graphql-ws/umd/graphql-ws.min.js",
}
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
# 'self' covers ws:/wss: to this host too (CSP Level 3), which the live feed uses
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# the page's files change with the service: revalidate (Last-Modified); libraries are pinned
PAGE_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"


def vendor_path(name: str) -> Path | None:
    relative = VENDOR.get(name)
    return EXPLORER_DIR / "node_modules" / relative if relative else None


def _file(path: Path, cache: str) -> web.FileResponse:
    kind = _TYPES.get(path.suffix, "application/octet-stream")
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "Content-Type": f"{kind}; charset=utf-8"}
    return web.FileResponse(path, headers=headers)


def _missing(text: str, status: int = 404) -> web.Response:
    return web.Response(status=status, text=text, headers=SECURITY_HEADERS)


async def page(request: web.Request) -> web.StreamResponse:
    if not all(p.is_file() for p in map(vendor_path, VENDOR) if p is not None):
        return _missing(INSTALL_HINT, 503)
    return _file(EXPLORER_DIR / "index.html", PAGE_CACHE)


async def page_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in PAGE_FILES:
        return _missing("no such explorer file")
    return _file(EXPLORER_DIR / name, PAGE_CACHE)


async def vendor_file(request: web.Request) -> web.StreamResponse:
    path = vendor_path(request.match_info["name"])
    if path is None:
        return _missing("no such explorer library")
    if not path.is_file():
        return _missing(INSTALL_HINT)
    return _file(path, VENDOR_CACHE)


async def to_page(request: web.Request) -> web.StreamResponse:
    # the page's modules are addressed relative to /explorer/
    raise web.HTTPPermanentRedirect(ROUTE + "/")


def setup_explorer(app: web.Application) -> None:
    app.router.add_get(ROUTE, to_page)
    app.router.add_get(ROUTE + "/", page)
    app.router.add_get(ROUTE + "/vendor/{name}", vendor_file)
    app.router.add_get(ROUTE + "/{name}", page_file)
