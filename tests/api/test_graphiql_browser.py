"""GraphiQL in headless Chromium, with nothing but this service reachable: it loads, runs a
query and a subscription, and renders their results."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.graphql.view import GRAPHIQL_DIR
from tests.api.cdp import Page, browser_page, chromium_binary
from tests.api.ops import ADD, GQL, add_input
from tests.api.test_subscriptions import wait_for_subscribers

pytestmark = [
    pytest.mark.skipif(chromium_binary() is None, reason="needs Debian's chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(not (GRAPHIQL_DIR / "node_modules").is_dir(), reason="run `npm ci --prefix app/static/graphiql`"),
]

EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror')"
# what the result pane shows (its CodeMirror's content)
RESULT = "((document.querySelector('.result-window .CodeMirror') || {}).CodeMirror?.getValue() || '')"


async def run_in_graphiql(page: Page, query: str) -> None:
    text = json.dumps(query)
    await page.evaluate(f"{EDITOR}.CodeMirror.setValue({text})")
    # GraphiQL takes in an edit after a debounce (then it stores it): run only once it has
    await page.wait_for(f"localStorage.getItem('graphiql:query') === {text}")
    await page.evaluate("document.querySelector('.graphiql-execute-button').click()")


async def test_graphiql_runs_a_query_and_a_subscription_offline(gql: GQL, tmp_path: Path) -> None:
    await gql.data(ADD, input=add_input("Rendered by GraphiQL"))
    origin = str(gql.client.make_url("/")).rstrip("/")
    async with browser_page(tmp_path / "profile") as page:
        await page.send("Network.enable")
        await page.send("Runtime.enable")
        await page.send("Page.navigate", url=f"{origin}/graphql")
        await page.wait_for(f"!!{EDITOR} && !!document.querySelector('.graphiql-execute-button')")

        await run_in_graphiql(page, "{ memories { nodes { text userId } } }")
        rendered = await page.wait_for(f"{RESULT}.includes('Rendered by GraphiQL') && {RESULT}")
        assert '"userId": "alice"' in rendered

        await run_in_graphiql(page, 'subscription { memoryEvents(scope: {userId: "alice"}) { kind memory { text } } }')
        await wait_for_subscribers(gql, 1)
        await gql.data(ADD, input=add_input("Pushed over the WebSocket"))
        await page.wait_for(f"{RESULT}.includes('Pushed over the WebSocket')")

        requested = [e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"]
        hosts = {urlsplit(url).netloc for url in requested if urlsplit(url).scheme in ("http", "https", "ws", "wss")}
        assert hosts == {urlsplit(origin).netloc}, f"GraphiQL reached beyond this service: {requested}"
        thrown = [e for e in page.events if e["method"] == "Runtime.exceptionThrown"]
        assert not thrown, thrown
