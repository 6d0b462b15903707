"""The graph through GraphQL, on the embedded Bolt graph server: relations extracted from
memories, entities and relations as connections, neighbourhoods, addRelation and
invalidateRelation, and relation events."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.settings import Settings
from app.web import create_app
from tests.api.ops import ADD, GQL, SUBSCRIBE
from tests.api.test_subscriptions import collect, wait_for_subscribers, ws_url

RELATE = """
mutation($input: RelationInput!) {
  addRelation(input: $input) {
    relationsAdded { source relation destination valid }
    relationsInvalidated { destination }
    graphPending
  }
}"""
INVALIDATE = """
mutation($input: RelationInput!) {
  invalidateRelation(input: $input) { source relation destination valid invalidatedAt }
}"""
ENTITY_PAGE = """
query($first: Int! = 20, $after: String) {
  entities(scope: {userId: "alice"}, first: $first, after: $after) {
    edges { cursor node { name } }
    pageInfo { hasNextPage endCursor }
  }
}"""
RELATION_PAGE = """
query($after: String) {
  relations(first: 1, after: $after, filter: {includeInvalid: true}) {
    nodes { destination }
    pageInfo { hasNextPage endCursor }
  }
}"""
ALICE = {"userId": "alice"}


@pytest.fixture
async def graph_gql(aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> GQL:
    settings = Settings(data_dir=tmp_path, graph={"enabled": True, "embedded_heap_mb": 256}, auth={"mode": "development"})
    return GQL(await aiohttp_client(create_app(settings)))


async def relate(gql: GQL, source: str, relation: str, destination: str) -> dict:
    input = {"scope": ALICE, "source": source, "relation": relation, "destination": destination}
    return (await gql.data(RELATE, input=input))["addRelation"]


async def test_relations_from_memories_and_the_graph_queries(graph_gql: GQL) -> None:
    gql = graph_gql
    message = {"role": "user", "content": "I live in Paris and I work at Acme."}
    added = await gql.data(ADD, input={"messages": [message], "scope": ALICE})
    result = added["addMemories"]
    assert result["graphPending"] is False
    triples = {(r["source"], r["relation"], r["destination"]) for r in result["relationsAdded"]}
    assert ("alice", "LIVES_IN", "paris") in triples and ("alice", "WORKS_AT", "acme") in triples

    page = await gql.data("""{ memories { nodes { text relations { relation destination memory { id } }
                                                  entities { name type } } } }""")
    memories = page["memories"]["nodes"]
    assert {r["destination"] for m in memories for r in m["relations"]} >= {"paris", "acme"}
    assert {e["name"] for m in memories for e in m["entities"]} >= {"alice", "paris", "acme"}

    entities = (await gql.data(ENTITY_PAGE, first=2))["entities"]
    assert [e["node"]["name"] for e in entities["edges"]] == ["acme", "alice"] and entities["pageInfo"]["hasNextPage"]
    rest = (await gql.data(ENTITY_PAGE, after=entities["pageInfo"]["endCursor"]))["entities"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["paris"] and not rest["pageInfo"]["hasNextPage"]

    filtered = await gql.data(
        '{ entities(filter: {nameContains: "ari"}) { nodes { name relations { source relation } neighbours { name } } } }'
    )
    (paris,) = filtered["entities"]["nodes"]
    assert paris["relations"] == [{"source": "alice", "relation": "LIVES_IN"}]
    assert [n["name"] for n in paris["neighbours"]] == ["alice"]

    hood = await gql.data(
        '{ neighbourhood(scope: {userId: "alice"}, entity: "Alice") { entities { name } relations { destination } } }'
    )
    assert {e["name"] for e in hood["neighbourhood"]["entities"]} == {"alice", "paris", "acme"}

    found = await gql.data(
        '{ search(query: "where do I live", scope: {userId: "alice"}) { relations { source relation destination } } }'
    )
    assert {"source": "alice", "relation": "LIVES_IN", "destination": "paris"} in found["search"]["relations"]


async def test_add_and_invalidate_relations_with_events_and_pagination(graph_gql: GQL) -> None:
    gql = graph_gql
    transport = WebsocketsTransport(url=ws_url(gql.client), subprotocols=["graphql-transport-ws"])
    async with Client(transport=transport) as session:
        kinds = ["RELATION_ADDED", "RELATION_INVALIDATED"]
        request = GraphQLRequest(SUBSCRIBE, variable_values={"scope": ALICE, "events": kinds})
        received = asyncio.create_task(collect(session.subscribe(request), 4))
        await wait_for_subscribers(gql, 1)
        first = await relate(gql, "Alice", "likes", "Tea")
        assert first["relationsAdded"] == [{"source": "alice", "relation": "LIKES", "destination": "tea", "valid": True}]
        await relate(gql, "Alice", "lives in", "Paris")
        moved = await relate(gql, "alice", "LIVES_IN", "Lyon")  # exclusive: Paris is invalidated
        assert moved["relationsInvalidated"] == [{"destination": "paris"}]
        events = await received
    assert [(e["kind"], e["relation"]["destination"]) for e in events] == [
        ("RELATION_ADDED", "tea"), ("RELATION_ADDED", "paris"), ("RELATION_ADDED", "lyon"),
        ("RELATION_INVALIDATED", "paris"),
    ]

    tea = {"scope": ALICE, "source": "alice", "relation": "LIKES", "destination": "tea"}
    changed = await gql.data(INVALIDATE, input=tea)
    assert [(r["destination"], r["valid"]) for r in changed["invalidateRelation"]] == [("tea", False)]
    again = await gql(INVALIDATE, input=tea)
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    valid = (await gql.data("{ relations { nodes { destination valid } } }"))["relations"]["nodes"]
    assert valid == [{"destination": "lyon", "valid": True}]
    seen, after = [], None
    while True:
        page = (await gql.data(RELATION_PAGE, after=after))["relations"]
        seen += [n["destination"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["tea", "paris", "lyon"]
    only = await gql.data('{ relations(filter: {relation: "lives in", includeInvalid: true}) { nodes { destination } } }')
    assert [n["destination"] for n in only["relations"]["nodes"]] == ["paris", "lyon"]


async def test_bad_graph_input_is_bad_user_input(graph_gql: GQL) -> None:
    body = await graph_gql(RELATE, input={"scope": ALICE, "source": "a", "relation": "!!!", "destination": "b"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await graph_gql('{ neighbourhood(scope: {userId: "alice"}, entity: "alice", depth: 9) { entities { name } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await graph_gql('{ relations(after: "garbage") { nodes { source } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await graph_gql('{ entities(first: 0) { nodes { name } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def graph_lookups(gql: GQL) -> float:
    resp = await gql.client.get("/metrics")
    text = await resp.text()
    prefix = 'agentmem_store_call_duration_seconds_count{operation="relations_for",store="graph"} '
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


async def test_search_asks_the_graph_only_when_relations_are_selected(graph_gql: GQL) -> None:
    gql = graph_gql
    await relate(gql, "Alice", "LIVES_IN", "Paris")
    before = await graph_lookups(gql)
    plain = await gql.data('{ search(query: "where does alice live", scope: {userId: "alice"}) { hits { score } } }')
    assert plain["search"]["hits"] == [] and await graph_lookups(gql) == before
    through_fragment = await gql.data(
        'query { search(query: "where does alice live", scope: {userId: "alice"}) { ...Rel } }'
        " fragment Rel on SearchResult { found: relations { destination } }"
    )
    assert through_fragment["search"]["found"] == [{"destination": "paris"}]
    assert await graph_lookups(gql) == before + 1


async def test_rest_search_returns_relations_when_the_request_enables_the_graph(graph_gql: GQL) -> None:
    gql = graph_gql
    await relate(gql, "Alice", "LIVES_IN", "Paris")
    body = {"query": "where does alice live", "user_id": "alice"}
    before = await graph_lookups(gql)
    async with gql.client.post("/v1/memories/search", json=body) as resp:
        assert resp.status == 200 and (await resp.json())["relations"] == []
    assert await graph_lookups(gql) == before
    async with gql.client.post("/v1/memories/search", json={**body, "enable_graph": True}) as resp:
        relations = (await resp.json())["relations"]
    assert {"source": "alice", "relationship": "LIVES_IN", "destination": "paris"} in relations


async def test_relations_neighbourhood_and_entity_relations_answer_as_of(graph_gql: GQL) -> None:
    gql = graph_gql
    await relate(gql, "Alice", "LIVES_IN", "Paris")
    await asyncio.sleep(0.01)
    moved = await relate(gql, "Alice", "LIVES_IN", "Berlin")  # exclusive: Paris ends here
    assert [r["destination"] for r in moved["relationsInvalidated"]] == ["paris"]
    ended = await gql.data('{ relations(filter: {includeInvalid: true, nameContains: "paris"}) '
                           "{ nodes { createdAt validTo invalidatedAt } } }")
    (paris,) = ended["relations"]["nodes"]
    assert paris["validTo"] is not None and paris["validTo"] == paris["invalidatedAt"]
    before = paris["createdAt"]  # Paris held from then until the move
    query = """query($at: DateTime) {
      relations(scope: {userId: "alice"}, asOf: $at) { nodes { destination valid } }
      neighbourhood(scope: {userId: "alice"}, entity: "alice", asOf: $at) { relations { destination } }
      entities(filter: {nameContains: "alice"}) { nodes { relations(asOf: $at) { destination validTo } } }
    }"""
    then = await gql.data(query, at=before)
    assert then["relations"]["nodes"] == [{"destination": "paris", "valid": False}]
    assert then["neighbourhood"]["relations"] == [{"destination": "paris"}]
    assert [r["destination"] for r in then["entities"]["nodes"][0]["relations"]] == ["paris"]
    now = await gql.data(query, at=None)
    assert now["relations"]["nodes"] == [{"destination": "berlin", "valid": True}]
    assert now["entities"]["nodes"][0]["relations"] == [{"destination": "berlin", "validTo": None}]
