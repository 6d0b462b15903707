"""Memory queries and mutations through the real app: add, get, list, search, history,
update, delete, deleteMemories, reset."""
from __future__ import annotations

import asyncio

from tests.api.ops import ADD, GQL, MEMORIES, SEARCH, add_input


async def add(gql: GQL, text: str, user: str = "alice", **extra: object) -> str:
    data = await gql.data(ADD, input=add_input(text, user, **extra))
    return data["addMemories"]["changes"][0]["id"]


async def test_add_memories_returns_the_change_and_the_stored_memory(gql: GQL) -> None:
    data = await gql.data(ADD, input=add_input("I love pizza", metadata={"topic": "food", "score": 3}))
    result = data["addMemories"]
    assert result["graphPending"] is False and result["storedRaw"] is False
    (change,) = result["changes"]
    assert change["event"] == "ADD" and change["text"] == "I love pizza" and change["previousText"] is None
    memory = change["memory"]
    assert memory["id"] == change["id"] and memory["userId"] == "alice" and memory["agentId"] is None
    assert memory["metadata"]["topic"] == "food" and memory["metadata"]["score"] == 3
    assert memory["valid"] is True and memory["invalidatedAt"] is None
    assert memory["createdAt"].startswith("20")


async def test_memory_by_id_with_history(gql: GQL) -> None:
    id = await add(gql, "My cat is called Tom")
    data = await gql.data(
        "query($id: ID!) { memory(id: $id) { id text history { memoryId event oldText newText createdAt } } }", id=id
    )
    assert data["memory"]["text"] == "My cat is called Tom"
    assert [(h["event"], h["newText"]) for h in data["memory"]["history"]] == [("ADD", "My cat is called Tom")]


async def test_memories_page_through_with_cursors(gql: GQL) -> None:
    ids = [await add(gql, f"fact number {i}") for i in range(5)]
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(MEMORIES, scope={"userId": "alice"}, first=2, after=after, orderBy="CREATED_ASC"))["memories"]
        seen += [e["node"]["id"] for e in page["edges"]]
        assert [n["id"] for n in page["nodes"]] == [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids


async def test_an_edge_cursor_resumes_right_after_its_node(gql: GQL) -> None:
    ids = [await add(gql, f"note {i}") for i in range(4)]
    first = (await gql.data(MEMORIES, first=4, orderBy="CREATED_ASC"))["memories"]
    resumed = (await gql.data(MEMORIES, first=4, orderBy="CREATED_ASC", after=first["edges"][1]["cursor"]))["memories"]
    assert [n["id"] for n in resumed["nodes"]] == ids[2:]


async def test_memories_default_newest_first_and_scope_filter(gql: GQL) -> None:
    a1 = await add(gql, "alice one")
    a2 = await add(gql, "alice two")
    await add(gql, "bob one", user="bob")
    page = (await gql.data(MEMORIES, scope={"userId": "alice"}))["memories"]
    assert [n["id"] for n in page["nodes"]] == [a2, a1]
    everyone = (await gql.data(MEMORIES))["memories"]
    assert len(everyone["nodes"]) == 3


async def test_memories_with_a_typed_filter_tree(gql: GQL) -> None:
    await add(gql, "likes sushi", metadata={"topic": "food", "score": 5, "tags": ["fish"]})
    await add(gql, "likes tea", metadata={"topic": "food", "score": 1, "tags": ["drink"]})
    await add(gql, "works at ACME", metadata={"topic": "work", "score": 4})
    flt = {
        "and": [{"field": {"name": "topic", "eq": "food"}}, {"field": {"name": "metadata.score", "gte": 2}}],
    }
    assert [n["text"] for n in (await gql.data(MEMORIES, filter=flt))["memories"]["nodes"]] == ["likes sushi"]
    either = {"or": [{"field": {"name": "tags", "contains": "drink"}}, {"field": {"name": "topic", "in": ["work"]}}]}
    texts = {n["text"] for n in (await gql.data(MEMORIES, filter=either))["memories"]["nodes"]}
    assert texts == {"likes tea", "works at ACME"}
    negated = {"not": {"field": {"name": "topic", "eq": "food"}}, "field": {"name": "text", "contains": "acme"}}
    assert [n["text"] for n in (await gql.data(MEMORIES, filter=negated))["memories"]["nodes"]] == ["works at ACME"]
    recent = {"field": {"name": "createdAt", "gte": "2000-01-01T00:00:00Z", "lt": "2999-01-01"}}
    assert len((await gql.data(MEMORIES, filter=recent))["memories"]["nodes"]) == 3


EXPLAINED = """
query($q: String!, $mode: SearchMode!) {
  search(query: $q, scope: {userId: "alice"}, limit: 3, mode: $mode) {
    hits { score matchedTerms scores { vector lexical graph time fused reranked } memory { text } }
  }
}"""


async def test_search_modes_explain_each_hit(gql: GQL) -> None:
    await add(gql, "The gate code for the warehouse is 7319")
    await add(gql, "I keep the warehouse tidy")
    hybrid = (await gql.data(EXPLAINED, q="warehouse gate code", mode="HYBRID"))["search"]["hits"]
    top = hybrid[0]
    assert top["memory"]["text"] == "The gate code for the warehouse is 7319"
    assert top["matchedTerms"] == ["warehouse", "gate", "code"]
    assert top["scores"]["fused"] == top["score"] and top["scores"]["lexical"] > 0 and top["scores"]["vector"] > 0
    lexical = (await gql.data(EXPLAINED, q="7319", mode="LEXICAL"))["search"]["hits"]
    assert [h["memory"]["text"] for h in lexical] == ["The gate code for the warehouse is 7319"]
    assert lexical[0]["scores"]["vector"] is None
    vector = (await gql.data(EXPLAINED, q="7319", mode="VECTOR"))["search"]["hits"]
    assert all(h["scores"]["lexical"] is None and h["score"] == h["scores"]["vector"] for h in vector)


async def test_search_ranks_and_filters(gql: GQL) -> None:
    await add(gql, "I love pizza with olives", metadata={"topic": "food"})
    await add(gql, "I work as a pilot", metadata={"topic": "work"})
    data = await gql.data(SEARCH, query="pizza olives", scope={"userId": "alice"}, limit=5)
    hits = data["search"]["hits"]
    assert hits[0]["memory"]["text"] == "I love pizza with olives"
    assert hits[0]["score"] >= hits[-1]["score"]
    assert data["search"]["relations"] == []
    only_work = {"field": {"name": "topic", "eq": "work"}}
    data = await gql.data(SEARCH, query="pizza olives", scope={"userId": "alice"}, filter=only_work)
    assert [h["memory"]["text"] for h in data["search"]["hits"]] == ["I work as a pilot"]
    data = await gql.data(SEARCH, query="pizza olives", scope={"userId": "alice"}, threshold=0.99)
    assert data["search"]["hits"] == []


async def test_update_memory_changes_text_and_metadata_and_records_history(gql: GQL) -> None:
    id = await add(gql, "I live in Paris")
    data = await gql.data(
        "mutation($input: UpdateMemoryInput!) { updateMemory(input: $input) { id text metadata } }",
        input={"id": id, "text": "I live in Lyon", "metadata": {"moved": True}},
    )
    assert data["updateMemory"] == {"id": id, "text": "I live in Lyon", "metadata": {"moved": True}}
    history = (await gql.data("query($id: ID!) { history(memoryId: $id) { event oldText newText } }", id=id))["history"]
    assert history[-1] == {"event": "UPDATE", "oldText": "I live in Paris", "newText": "I live in Lyon"}


async def test_delete_memory_returns_it_and_keeps_its_history(gql: GQL) -> None:
    id = await add(gql, "temporary")
    data = await gql.data("mutation($id: ID!) { deleteMemory(id: $id) { id text } }", id=id)
    assert data["deleteMemory"] == {"id": id, "text": "temporary"}
    gone = await gql("query($id: ID!) { memory(id: $id) { id } }", id=id)
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    history = (await gql.data("query($id: ID!) { history(memoryId: $id) { event } }", id=id))["history"]
    assert [h["event"] for h in history] == ["ADD", "DELETE"]


async def test_delete_memories_of_a_scope(gql: GQL) -> None:
    await add(gql, "a1")
    await add(gql, "a2")
    await add(gql, "b1", user="bob")
    data = await gql.data("mutation { deleteMemories(scope: {userId: \"alice\"}) { deletedCount } }")
    assert data["deleteMemories"]["deletedCount"] == 2
    assert [n["text"] for n in (await gql.data(MEMORIES))["memories"]["nodes"]] == ["b1"]


async def test_reset_memories_forgets_everything(gql: GQL) -> None:
    await add(gql, "x")
    assert (await gql.data("mutation { resetMemories }"))["resetMemories"] is True
    assert (await gql.data(MEMORIES))["memories"]["nodes"] == []


async def test_get_queries_work_over_http_get(gql: GQL) -> None:
    await add(gql, "via get")
    resp = await gql.client.get("/graphql", params={"query": "{ memories { nodes { text } } }"})
    assert resp.status == 200
    assert (await resp.json())["data"]["memories"]["nodes"] == [{"text": "via get"}]


async def test_concurrent_requests_keep_their_own_results_and_errors(gql: GQL) -> None:
    ids = [await add(gql, f"parallel {i}") for i in range(8)]
    query = "query($id: ID!) { memory(id: $id) { id history { newText } } }"
    bodies = await asyncio.gather(*(gql(query, id=id) for id in [*ids, "missing-1", "missing-2"]))
    assert [b["data"]["memory"]["history"][0]["newText"] for b in bodies[:8]] == [f"parallel {i}" for i in range(8)]
    assert all(b["errors"][0]["extensions"]["code"] == "NOT_FOUND" for b in bodies[8:])
    assert all("errors" not in b for b in bodies[:8])


EVENT_TIMES = """
mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { memory { text occurredAt createdAt } } } }"""


async def test_occurred_at_comes_from_the_message_then_the_add_then_the_clock(gql: GQL) -> None:
    messages = [{"role": "user", "content": "We met in Lisbon", "occurredAt": "2023-05-08T13:56:00Z"},
                {"role": "user", "content": "We flew home"}]
    data = await gql.data(EVENT_TIMES, input={"messages": messages, "scope": {"userId": "alice"}, "infer": False,
                                              "occurredAt": "2023-05-09T09:00:00+02:00"})
    changes = [c["memory"] for c in data["addMemories"]["changes"]]
    assert [c["occurredAt"] for c in changes] == ["2023-05-08T13:56:00+00:00", "2023-05-09T07:00:00+00:00"]
    data = await gql.data(EVENT_TIMES, input=add_input("no time given"))
    memory = data["addMemories"]["changes"][0]["memory"]
    assert memory["occurredAt"] == memory["createdAt"]


async def test_search_context_returns_neighbouring_turns(gql: GQL) -> None:
    for text in ["Did you get the tickets?", "Yes, for the jazz concert", "Great, see you Friday"]:
        await add(gql, text)
    query = """query { search(query: "jazz concert", scope: {userId: "alice"}, limit: 1, context: 1) {
      hits { memory { text } context { text } } } }"""
    (hit,) = (await gql.data(query))["search"]["hits"]
    assert hit["memory"]["text"] == "Yes, for the jazz concert"
    assert [c["text"] for c in hit["context"]] == ["Did you get the tickets?", "Great, see you Friday"]
