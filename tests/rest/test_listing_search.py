"""Listing (GET /v1/memories, POST /v2|v3/memories) and search, with scopes, mem0 filters and
both kinds of paging."""
from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.rest.conftest import error, ok, remember


@pytest.fixture
async def stored(client: TestClient) -> dict[str, str]:
    """Five memories of two users, agents and runs, with metadata."""
    return {
        "pizza": await remember(client, "I love pizza with olives", metadata={"topic": "food", "stars": 5}),
        "sushi": await remember(client, "Sushi is my favourite dinner", agent_id="chef", metadata={"topic": "food", "stars": 3}),
        "paris": await remember(client, "I live in Paris", run_id="s1", metadata={"topic": "home"}),
        "bob": await remember(client, "I play the guitar", user_id="bob", agent_id="chef", metadata={"topic": "music"}),
        "dog": await remember(client, "My dog is called Rex", user_id="bob", run_id="s2"),
    }


async def listed(client: TestClient, filters: dict[str, Any] | None = None, **body: Any) -> set[str]:
    resp = await client.post("/v2/memories/", json={"filters": filters, **body} if filters is not None else body)
    return {m["id"] for m in (await ok(resp))["results"]}


async def test_get_lists_a_scope_newest_first(client: TestClient, stored: dict[str, str]) -> None:
    body = await ok(await client.get("/v1/memories/", params={"user_id": "alice"}))
    assert [m["id"] for m in body["results"]] == [stored["paris"], stored["sushi"], stored["pizza"]]
    assert body["has_more"] is False and body["next_cursor"] is None
    body = await ok(await client.get("/v1/memories", params={"agent_id": "chef", "order": "created_asc"}))
    assert [m["id"] for m in body["results"]] == [stored["sushi"], stored["bob"]]


async def test_get_takes_filters_as_json_in_the_query(client: TestClient, stored: dict[str, str]) -> None:
    params = {"filters": json.dumps({"AND": [{"user_id": "alice"}, {"metadata": {"topic": "food"}}]})}
    body = await ok(await client.get("/v1/memories", params=params))
    assert {m["id"] for m in body["results"]} == {stored["pizza"], stored["sushi"]}
    assert "filters" in await error(await client.get("/v1/memories", params={"filters": "{oops"}), 400, "BAD_USER_INPUT")


async def test_cursor_paging_walks_everything_once(client: TestClient, stored: dict[str, str]) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = await ok(await client.get("/v1/memories", params=params))
        seen += [m["id"] for m in body["results"]]
        if not body["has_more"]:
            break
        params["after"] = body["next_cursor"]
    assert sorted(seen) == sorted(stored.values())


async def test_page_numbers_work_in_the_body_or_the_query(client: TestClient, stored: dict[str, str]) -> None:
    pages = []
    for page in (1, 2, 3):
        body = await ok(await client.post(f"/v3/memories/?page={page}&page_size=2", json={}))
        pages.append([m["id"] for m in body["results"]])
        assert (body["next"] is not None) == (page < 3) and (body["previous"] is not None) == (page > 1)
    assert [len(p) for p in pages] == [2, 2, 1] and sorted(id for p in pages for id in p) == sorted(stored.values())
    body = await ok(await client.post("/v2/memories", json={"page": 4, "page_size": 2}))
    assert body["results"] == [] and body["has_more"] is False
    assert "both" in await error(await client.post("/v2/memories?page=1", json={"page": 2}), 400, "BAD_USER_INPUT")
    await error(await client.get("/v1/memories", params={"page": 1, "limit": 2}), 400, "BAD_USER_INPUT")
    await error(await client.get("/v1/memories", params={"page": 100_000, "page_size": 100}), 400, "BAD_USER_INPUT")


@pytest.mark.parametrize("filters, expected", [
    ({"user_id": "alice"}, {"pizza", "sushi", "paris"}),
    ({"AND": [{"user_id": "alice"}, {"agent_id": "*"}]}, {"sushi"}),
    ({"AND": [{"user_id": "*"}, {"run_id": "*"}]}, {"paris", "dog"}),
    ({"OR": [{"agent_id": "chef"}, {"run_id": "s2"}]}, {"sushi", "bob", "dog"}),
    ({"user_id": {"in": ["bob"]}}, {"bob", "dog"}),
    ({"AND": [{"agent_id": "*"}, {"agent_id": {"ne": "chef"}}]}, set()),
    ({"agent_id": {"ne": "chef"}}, {"pizza", "paris", "dog"}),  # ne includes missing values
    ({"NOT": {"user_id": "bob"}}, {"pizza", "sushi", "paris"}),
    ({"NOT": [{"user_id": "bob"}, {"run_id": "s1"}]}, {"pizza", "sushi"}),  # none of them
    ({"metadata": {"topic": "food"}}, {"pizza", "sushi"}),
    ({"metadata": {"stars": {"gte": 4}}}, {"pizza"}),
    ({"stars": {"lt": 4}}, {"sushi"}),  # any other key is a metadata key (mem0 OSS)
    ({"topic": ["home", "music"]}, {"paris", "bob"}),  # list shorthand: in
    ({"keywords": {"icontains": "PIZZA"}}, {"pizza"}),
    ({"created_at": {"gte": "2000-01-01", "lte": "2999-12-31T00:00:00Z"}}, {"pizza", "sushi", "paris", "bob", "dog"}),
    ({"created_at": {"lt": "2000-01-01"}}, set()),
    ({"AND": [{"user_id": "alice"}, {"user_id": "bob"}]}, set()),  # both can never hold
])
async def test_mem0_filters_select_exactly(client: TestClient, stored: dict[str, str], filters: dict[str, Any],
                                           expected: set[str]) -> None:
    assert await listed(client, filters) == {stored[name] for name in expected}


async def test_memory_ids_filter(client: TestClient, stored: dict[str, str]) -> None:
    ids = [stored["pizza"], stored["dog"]]
    assert await listed(client, {"memory_ids": ids}) == set(ids)
    assert await listed(client, {"AND": [{"user_id": "alice"}, {"memory_ids": {"in": ids}}]}) == {stored["pizza"]}


@pytest.mark.parametrize("filters, words", [
    ({"app_id": "x"}, "app_id"),
    ({"keywords": {"contains": "pizza"}}, "icontains"),
    ({"topic": {"contains": "food"}}, "icontains"),
    ({"topic": "*"}, "wildcard"),
    ({"user_id": {"gt": "a"}}, "user_id supports"),
    ({"categories": {"gt": "a"}}, "categories supports"),
    ({"topic": {"regex": ".*"}}, "unknown filter operator"),
    ({"created_at": {"gte": "yesterday"}}, "ISO-8601"),
    ({"OR": []}, "non-empty list"),
    ({"OR": {"user_id": "a"}}, "non-empty list"),
    ({"NOT": []}, "non-empty list"),
    ({"metadata": "food"}, "metadata"),
    ({"topic": {}}, "empty operator"),
    ({"AND": [{}]}, "empty object"),
    ({"timestamp": {"gt": 1}}, "timestamp"),
    ({"user_id": {"in": "alice"}}, "list"),
])
async def test_what_cannot_be_honoured_is_a_400_that_says_why(client: TestClient, filters: dict[str, Any],
                                                              words: str) -> None:
    for resp in (await client.post("/v2/memories/", json={"filters": filters}),
                 await client.post("/v2/memories/search/", json={"query": "x", "user_id": "a", "filters": filters})):
        assert words in await error(resp, 400, "BAD_USER_INPUT")


async def test_deeply_nested_filters_are_refused(client: TestClient) -> None:
    spec: dict[str, Any] = {"topic": "x"}
    for _ in range(40):
        spec = {"NOT": spec}
    assert "deeper" in await error(await client.post("/v2/memories", json={"filters": spec}), 400, "BAD_USER_INPUT")


async def test_start_and_end_date_and_categories(client: TestClient, stored: dict[str, str]) -> None:
    assert len(await listed(client, start_date="2000-01-01", end_date="2999-01-01")) == 5
    assert await listed(client, end_date="2000-01-01") == set()
    assert await listed(client, categories=["finance"]) == set()


async def test_search_ranks_by_meaning_within_the_scope(client: TestClient, stored: dict[str, str]) -> None:
    body = await ok(await client.post("/v1/memories/search/", json={"query": "what food do I like?", "user_id": "alice"}))
    assert body["results"][0]["id"] in (stored["pizza"], stored["sushi"])
    assert {r["user_id"] for r in body["results"]} == {"alice"} and body["relations"] == []
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    first = body["results"][0]
    assert {"id", "memory", "hash", "metadata", "score", "created_at", "updated_at", "user_id"} <= set(first)


async def test_search_v2_scope_from_filters_with_top_k_threshold_and_metadata(client: TestClient,
                                                                              stored: dict[str, str]) -> None:
    path = "/v2/memories/search/"
    body = await ok(await client.post(path, json={"query": "food", "filters": {"AND": [{"user_id": "alice"}]}, "top_k": 1}))
    assert len(body["results"]) == 1
    body = await ok(await client.post(path, json={"query": "food", "filters": {"user_id": "alice", "topic": "home"}}))
    assert [r["id"] for r in body["results"]] == [stored["paris"]]
    body = await ok(await client.post("/v3/memories/search/", json={"query": "food", "user_id": "alice",
                                                                     "metadata": {"topic": "food"}, "limit": 5}))
    assert {r["id"] for r in body["results"]} == {stored["pizza"], stored["sushi"]}
    body = await ok(await client.post(path, json={"query": "food", "user_id": "alice", "threshold": 0.99}))
    assert body["results"] == []


@pytest.mark.parametrize("body, words", [
    ({"query": "x"}, "scope is required"),
    ({"query": "x", "user_id": "a", "limit": 2, "top_k": 3}, "limit and top_k"),
    ({"query": "x", "user_id": "a", "limit": 100_000}, "limit must be between"),
    ({"query": "x", "user_id": "a", "rerank": True}, "reranker"),
    ({"query": "x", "user_id": "a", "reference_date": "2025-01-01"}, "reference_date"),
    ({"query": "x", "user_id": "a", "enable_graph": True}, "graph memory is disabled"),
    ({"query": "x", "user_id": "a", "surprise": 1}, "surprise"),
    ({"query": "", "user_id": "a"}, "query"),
    ({"query": "x", "user_id": "no spaces allowed"}, "user_id"),
])
async def test_search_refusals(client: TestClient, body: dict[str, Any], words: str) -> None:
    assert words in await error(await client.post("/v1/memories/search", json=body), 400, "BAD_USER_INPUT")


async def test_keyword_search_fuses_words_with_meaning_and_false_searches_by_meaning_only(
    client: TestClient, stored: dict[str, str]
) -> None:
    path = "/v1/memories/search"
    hybrid = await ok(await client.post(path, json={"query": "pizza", "user_id": "alice", "keyword_search": True}))
    first = hybrid["results"][0]
    assert first["id"] == stored["pizza"] and first["matched_terms"] == ["pizza"]
    assert first["scores"]["lexical"] > 0 and first["scores"]["fused"] == first["score"]
    plain = await ok(await client.post(path, json={"query": "pizza", "user_id": "alice", "keyword_search": False}))
    assert all(r["scores"]["lexical"] is None and r["scores"]["fused"] is None for r in plain["results"])
    assert all(r["score"] == r["scores"]["vector"] for r in plain["results"])


async def test_harmless_mem0_knobs_are_accepted(client: TestClient, stored: dict[str, str]) -> None:
    await ok(await client.post("/v1/memories/search", json={
        "query": "food", "user_id": "alice", "rerank": False, "keyword_search": False, "show_expired": True,
        "version": "v2", "output_format": "v1.1", "enable_graph": False,
    }))
    await ok(await client.post("/v1/memories", json={"messages": "x", "user_id": "a", "infer": False,
                                                     "async_mode": True, "version": "v2", "immutable": False}))
    await ok(await client.get("/v1/memories", params={"show_expired": "true", "version": "v2", "org_id": "agentmem"}))
    await error(await client.get("/v1/memories", params={"show_expired": "maybe"}), 400, "BAD_USER_INPUT")
