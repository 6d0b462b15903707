"""Nested graph lists are bounded by `first` and priced by it; an answer past the response cap
becomes a RESPONSE_TOO_LARGE error (embedded Bolt graph server)."""
from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

from aiohttp.test_utils import TestClient

from app.settings import Settings
from app.web import create_app
from tests.api.ops import GQL
from tests.api.test_graph import graph_gql, relate  # noqa: F401  (fixture)

LEAVES = 30
STAR = """
query($first: Int!, $inner: Int!) {
  neighbourhood(scope: {userId: "alice"}, entity: "hub", depth: 1) {
    entities(first: $first) { name neighbours(depth: 2, first: $inner) { name } }
    relations(first: $first) { destination }
  }
}"""
NESTED = """
{ neighbourhood(scope: {userId: "alice"}, entity: "hub") {
    entities { neighbours(depth: 2) { neighbours(depth: 2) { neighbours(depth: 2) { name } } } } } }"""


async def test_nested_neighbour_lists_answer_at_most_first_and_are_priced_by_it(graph_gql: GQL) -> None:  # noqa: F811
    for i in range(LEAVES):
        await relate(graph_gql, "hub", "KNOWS", f"leaf{i}")
    hood = (await graph_gql.data(STAR, first=5, inner=3))["neighbourhood"]
    assert len(hood["entities"]) == 5 and len(hood["relations"]) == 5
    assert all(len(e["neighbours"]) == 3 for e in hood["entities"])
    default = (await graph_gql.data(STAR, first=100, inner=20))["neighbourhood"]
    # (close names may merge into one entity: count what the graph holds)
    assert len(default["entities"]) > 21 and all(len(e["neighbours"]) == 20 for e in default["entities"])
    # four nested levels of 100 x 20 x 20 x 20 cannot pass the cost limit any more
    body = await graph_gql(NESTED)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and error["extensions"]["cost"] > 20_000


async def test_an_answer_past_the_response_cap_is_an_error(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"},
                        limits={"max_response_bytes": 4096})
    gql = GQL(await aiohttp_client(create_app(settings)))
    add = "mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { event } } }"
    for i in range(3):
        await gql.data(add, input={"messages": [{"role": "user", "content": f"note {i} " + "x" * 2000}],
                                   "scope": {"userId": "alice"}, "infer": False})
    body = await gql('{ memories(scope: {userId: "alice"}) { nodes { text } } }')
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "RESPONSE_TOO_LARGE"
    assert len((await gql.data('{ memories(scope: {userId: "alice"}, first: 1) { nodes { text } } }'))["memories"]["nodes"]) == 1
