"""The explorer (/explorer/) in headless Chromium against a live server with authentication and
the embedded graph: sign in with a key, search, a memory's history after a correction, the
graph (filter, as-of slider, a screenshot), live events from another client, the edit flow,
and a scope of 10k memories and 2k entities kept to a page and a capped graph. Every request
the page makes stays on loopback."""
from __future__ import annotations

import asyncio
import json
import os
import struct
import zlib
from base64 import b64decode
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import pytest

from app.explorer import EXPLORER_DIR
from app.keys import SERVICE_KEY
from memory.models import ChangeEvent, GraphWork, HistoryEntry, MemoryRecord, Scope, StoredMemory, Triple, new_id, \
    text_hash, utcnow
from memory.ports import ChangeSet
from tests.api.authkit import make_key, secure_settings
from tests.api.cdp import Page, browser_page, chromium_binary
from tests.api.live import LiveServer

pytestmark = [
    pytest.mark.skipif(chromium_binary() is None, reason="needs Debian's chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(not (EXPLORER_DIR / "node_modules").is_dir(), reason="run `npm ci --prefix app/static/explorer`"),
]

ALICE = {"userId": "alice"}
BULK_MEMORIES, BULK_ENTITIES = 10_000, 2_000
ADD = """mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { id memory { id } } } }"""
RELATE = """mutation($input: RelationInput!) { addRelation(input: $input) { relationsAdded { createdAt } } }"""
INVALIDATE = """mutation($input: RelationInput!) { invalidateRelation(input: $input) { valid } }"""


class Server:
    def __init__(self, live: LiveServer, key: str) -> None:
        self.live = live
        self.key = key

    @property
    def service(self) -> Any:
        assert self.live.app is not None
        return self.live.app[SERVICE_KEY]

    async def gql(self, document: str, **variables: Any) -> dict[str, Any]:
        """Another client: the test's own HTTP session, with the same key."""
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.live.url}/graphql", json={"query": document, "variables": variables},
                                 headers={"Authorization": f"Bearer {self.key}"}) as resp:
                body = await resp.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def add(self, text: str, user: str = "alice", **metadata: Any) -> str:
        input = {"messages": [{"role": "user", "content": text}], "scope": {"userId": user}, "infer": False,
                 "metadata": metadata or None}
        return (await self.gql(ADD, input=input))["addMemories"]["changes"][0]["id"]

    async def relate(self, source: str, relation: str, destination: str) -> str:
        input = {"scope": ALICE, "source": source, "relation": relation, "destination": destination}
        return (await self.gql(RELATE, input=input))["addRelation"]["relationsAdded"][0]["createdAt"]


async def seed_bulk(service: Any, dimension: int) -> None:
    """10k memories (random unit vectors: no model calls) and 2k entities for user `bulk`,
    committed the way the core commits an add, in a few big transactions."""
    rng = np.random.default_rng(17)
    scope, now = Scope("bulk"), utcnow()
    for start in range(0, BULK_MEMORIES, 2500):
        change = ChangeSet()
        for i in range(start, start + 2500):
            text = f"bulk fact number {i} about topic {i % 97}"
            vector = rng.normal(size=dimension).astype(np.float32)
            record = MemoryRecord(new_id(), text, text_hash(text), scope, {"i": i}, now, now)
            change.writes.append(StoredMemory(record, vector / np.linalg.norm(vector)))
            change.history.append(HistoryEntry(record.id, ChangeEvent.ADD, None, text, scope, now))
        await service._committer.commit(change, [])
    # things grouped around topics, as a person's facts gather around a few subjects
    triples = tuple(Triple(f"thing {i}", "ABOUT", f"topic {i % 40}") for i in range(BULK_ENTITIES))
    for start in range(0, BULK_ENTITIES, 500):
        await service._graph.apply([GraphWork(new_id(), scope, triples[start:start + 500], None, now)])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = secure_settings(tmp_path_factory.mktemp("explorer"), graph={"enabled": True, "embedded_heap_mb": 256},
                               limits={"requests_per_s": 1000, "burst": 10_000})
    live = LiveServer(settings).start()
    try:
        assert live.app is not None
        key = live.call(make_key(live.app, "admin", "explorer"))
        server = Server(live, key)
        live.call(seed_bulk(server.service, settings.embedder.dimension), timeout=300)
        yield server
    finally:
        live.stop()


@pytest.fixture
async def page(server: Server, tmp_path: Path) -> AsyncIterator[Page]:
    async with browser_page(tmp_path / "profile") as page:
        for domain in ("Network", "Runtime", "Log", "Page"):
            await page.send(f"{domain}.enable")
        await page.send("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1,
                        mobile=False)
        yield page
        urls = [e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"]
        urls += [e["params"]["url"] for e in page.events if e["method"] == "Network.webSocketCreated"]
        hosts = {urlsplit(url).hostname for url in urls if urlsplit(url).scheme in ("http", "https", "ws", "wss")}
        assert hosts == {"127.0.0.1"}, f"the explorer reached beyond this service: {urls}"
        assert not any(server.key in url for url in urls), "the key appeared in a URL"
        thrown = [e["params"] for e in page.events if e["method"] == "Runtime.exceptionThrown"]
        assert not thrown, thrown
        blocked = [e["params"]["entry"]["text"] for e in page.events
                   if e["method"] == "Log.entryAdded" and "Content Security Policy" in e["params"]["entry"]["text"]]
        assert not blocked, blocked


async def submit_key(page: Page, key: str) -> None:
    await page.wait_for("!!document.querySelector('#signin:not([hidden]) #signin-key')")
    await page.evaluate(f"document.getElementById('signin-key').value = {json.dumps(key)};"
                        "document.getElementById('signin-form').requestSubmit()")


async def sign_in(page: Page, server: Server) -> None:
    await page.send("Page.navigate", url=f"{server.live.url}/explorer")
    await submit_key(page, server.key)
    await page.wait_for("window.explorer && window.explorer.ready")
    assert await page.evaluate("sessionStorage.getItem('agentmem.explorer.key')") == server.key
    assert server.key not in await page.evaluate("location.href")


async def set_value(page: Page, selector: str, value: str, event: str = "change") -> None:
    await page.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};"
                        f" e.dispatchEvent(new Event({json.dumps(event)})); }})()")


async def click(page: Page, selector: str) -> None:
    await page.wait_for(f"!!document.querySelector({json.dumps(selector)})")
    await page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


async def confirm(page: Page) -> None:
    await page.wait_for("document.getElementById('confirm').open")
    await click(page, "#confirm-ok")


def texts(selector: str) -> str:
    return f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"


def edges(where: str = "true") -> str:
    return f"window.explorer.cy.edges().filter(e => {where}).length"


def check_png(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG that shows something: a blank canvas has a handful of byte values."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    raw, offset = b"", 8
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        if kind == b"IDAT":
            raw += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    assert len(set(zlib.decompress(raw))) > 64, "the screenshot is (nearly) blank"
    return width, height


async def save_screenshot(page: Page, name: str, tmp_path: Path) -> bytes:
    """The viewport as a PNG, under tmp_path and $AGENTMEM_ARTIFACTS (when set) for people to look at."""
    png = b64decode((await page.send("Page.captureScreenshot", format="png"))["data"])
    for folder in filter(None, [tmp_path, os.environ.get("AGENTMEM_ARTIFACTS")]):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)
    return png


async def test_explorer_search_history_graph_live_and_edits(server: Server, page: Page, tmp_path: Path) -> None:
    tea = await server.add("Alice drinks green tea every morning", topic="food")
    await server.add("Alice works at Acme as a data engineer", topic="work")
    await server.add("Alice lives in Paris near the canal", topic="home")
    first = datetime.fromisoformat(await server.relate("alice", "LIVES_IN", "paris"))
    await asyncio.sleep(0.3)
    second = datetime.fromisoformat(await server.relate("alice", "WORKS_AT", "acme"))
    await server.relate("alice", "LIKES", "coffee")
    await server.gql(INVALIDATE, input={"scope": ALICE, "source": "alice", "relation": "LIKES", "destination": "coffee"})
    await server.relate("alice", "LIKES", "tea")

    await page.send("Page.navigate", url=f"{server.live.url}/explorer")
    await submit_key(page, "amk_not-a-key")
    await page.wait_for("document.getElementById('signin-error').textContent === 'This key was refused.'")
    assert await page.evaluate("sessionStorage.length") == 0
    await sign_in(page, server)
    await set_value(page, "#scope-user", "alice")
    await page.wait_for(f"{texts('#memory-list .text')}.length === 3")

    # search: hits with the score breakdown
    await set_value(page, "#search", "green tea", "input")
    await page.wait_for("!!document.querySelector('#memory-list .chip.score.fused')")
    hits = await page.evaluate(texts("#memory-list .text"))
    assert hits[0] == "Alice drinks green tea every morning"
    chips = await page.evaluate(texts("#memory-list li:first-child .chip.score"))
    assert any(c.startswith("fused ") for c in chips) and any(c.startswith("vector ") for c in chips)
    assert 'topic: "food"' in await page.evaluate(texts("#memory-list li:first-child .chip.metadata"))
    await save_screenshot(page, "explorer-search.png", tmp_path)

    # correct it (confirmed), then its history shows old -> new
    await click(page, f"#memory-list li[data-id='{tea}']")
    await page.wait_for("!!document.getElementById('correct-text')")
    await set_value(page, "#correct-text", "Alice drinks jasmine tea every morning", "input")
    await click(page, "#correct-save")
    await confirm(page)
    await page.wait_for(f"{texts('#history-body del')}.includes('Alice drinks green tea every morning')")
    assert await page.evaluate(texts("#history-body ins")) == ["Alice drinks jasmine tea every morning"]
    assert await page.evaluate(texts("#history-body .timeline .chip.kind")) == ["ADD", "UPDATE"]
    assert (await page.evaluate(texts("#memory-list .text")))[0] == "Alice drinks jasmine tea every morning"
    await save_screenshot(page, "explorer-history.png", tmp_path)
    await click(page, "#history-close")

    # the graph: counts, the dashed invalid relation, the relation filter, the as-of slider
    await page.evaluate("window.explorer.show('graph')")
    await page.wait_for(f"{edges()} === 4")
    assert await page.evaluate("window.explorer.cy.nodes().length") == 5
    assert await page.evaluate(edges("e.hasClass('invalid')")) == 1
    assert await page.evaluate(edges("e.hasClass('invalid') && e.style('line-style') === 'dashed'")) == 1
    assert set(await page.evaluate("[...document.querySelectorAll('#relation-type option')].map(o => o.value)")) == {
        "", "LIVES_IN", "WORKS_AT", "LIKES"}
    await set_value(page, "#relation-type", "LIKES")
    likes = edges("e.data('relation') === 'LIKES'")
    await page.wait_for(f"{edges()} === 2 && {likes} === 2")
    await set_value(page, "#relation-type", "")
    await page.wait_for(f"{edges()} === 4")
    between = (first.timestamp() + second.timestamp()) / 2 * 1000
    await set_value(page, "#asof", str(int(between)))
    await page.wait_for(f"{edges()} === 1")
    assert await page.evaluate("window.explorer.cy.edges()[0].data('relation')") == "LIVES_IN"
    assert await page.evaluate("document.getElementById('asof-label').textContent") != "now"
    await page.evaluate("(() => { const s = document.getElementById('asof'); s.value = s.max;"
                        " s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); })()")
    await page.wait_for(f"{edges()} === 4")

    # live: another client's add and relation arrive in the feed, the list and the graph
    async with asyncio.timeout(30):
        while server.service.events.subscriber_count < 1:
            await asyncio.sleep(0.05)
    await server.add("Alice adopted a cat named Miso")
    await server.relate("alice", "OWNS", "miso")
    await page.wait_for(f"{texts('#live-feed li')}.some(t => t.includes('Alice adopted a cat named Miso'))")
    await page.wait_for(f"{edges()} === 5")
    assert await page.evaluate("!document.getElementById('live-count').hidden")  # seen from another tab
    await page.evaluate("window.explorer.show('live')")
    await save_screenshot(page, "explorer-live.png", tmp_path)
    await page.evaluate("window.explorer.show('memories'); document.getElementById('search').value = '';"
                        " window.explorer.memories.reload()")
    await page.wait_for(f"{texts('#memory-list .text')}.includes('Alice adopted a cat named Miso')")

    # a screenshot of the graph, for people to look at
    await page.evaluate("window.explorer.show('graph')")
    await page.wait_for(f"{edges()} === 5")
    width, height = check_png(await save_screenshot(page, "explorer-graph.png", tmp_path))
    assert (width, height) == (1400, 900)

    # edit: add (confirmed), then delete with purge (confirmed)
    await page.evaluate("window.explorer.show('memories')")
    await set_value(page, "#add-text", "Alice is learning Rust", "input")
    await page.evaluate("document.getElementById('add-form').requestSubmit()")
    await confirm(page)
    await page.wait_for(f"{texts('#memory-list .text')}.includes('Alice is learning Rust')")
    added = await page.evaluate("[...document.querySelectorAll('#memory-list li')]"
                                ".find(li => li.textContent.includes('Alice is learning Rust')).dataset.id")
    await click(page, f"#memory-list li[data-id='{added}']")
    await page.wait_for("!!document.getElementById('delete-purge')")
    await page.evaluate("document.getElementById('delete-purge').click()")
    await click(page, "#delete-memory")
    await confirm(page)
    await page.wait_for(f"{texts('#history-body .chip.kind')}.includes('DELETE')")
    await page.wait_for(f"!{texts('#memory-list .text')}.includes('Alice is learning Rust')")
    history = (await server.gql("query($id: ID!) { history(memoryId: $id) { event newText } }", id=added))["history"]
    assert [h["event"] for h in history] == ["ADD", "DELETE"] and history[0]["newText"] is None  # purged


async def test_a_scope_of_10k_memories_and_2k_entities_stays_paged_and_capped(
        server: Server, page: Page, tmp_path: Path) -> None:
    await sign_in(page, server)
    await page.send("Page.reload")  # the key stays for the tab's session
    await page.wait_for("window.explorer && window.explorer.ready")
    assert await page.evaluate("document.getElementById('signin').hidden")
    await set_value(page, "#scope-user", "bulk")
    await page.wait_for(f"{texts('#memory-list .text')}.length === 50 && !document.getElementById('memories-more').hidden")
    assert await page.evaluate("1 + 1") == 2  # the page answers while the scope is loaded
    await click(page, "#memories-more")
    await page.wait_for(f"{texts('#memory-list .text')}.length === 100")

    await page.evaluate("window.explorer.show('graph')")
    await page.wait_for("window.explorer.cy.nodes().length === 300 && !document.getElementById('graph-more').hidden")
    assert "more to show" in await page.evaluate("document.getElementById('graph-status').textContent")
    assert await page.evaluate("1 + 1") == 2
    # a topic's neighbourhood: its 50 things, drawn or not yet
    topic = await page.evaluate("window.explorer.cy.nodes().filter(n => n.id().startsWith('topic')).sort("
                                "(a, b) => a.degree() - b.degree())[0].id()")
    await page.evaluate(f"window.explorer.cy.getElementById({json.dumps(topic)}).emit('tap') && true")
    await page.wait_for(f"window.explorer.cy.getElementById({json.dumps(topic)}).hasClass('expanded')")
    assert await page.evaluate(f"window.explorer.cy.getElementById({json.dumps(topic)}).degree()") == 50
    await page.evaluate("window.explorer.graph.reload() && true")
    await page.wait_for("window.explorer.cy.nodes().length === 300")
    await click(page, "#graph-more")
    await page.wait_for("window.explorer.cy.nodes().length === 600")
    await save_screenshot(page, "explorer-scale.png", tmp_path)
    owners = await page.evaluate("[...document.querySelectorAll('#scope-user option')].map(o => o.textContent)")
    assert f"bulk ({BULK_MEMORIES})" in owners
