"""Forgetting for real: `purge: true` (GraphQL), `?purge=true` (REST) and `python -m app erase`
leave nothing of a memory's text in SQL, the index files, the graph or an export, and keep an
audit line without content."""
from __future__ import annotations

import asyncio
import io
from pathlib import Path

from aiohttp.test_utils import TestClient

from app import bootstrap
from app.commands import transfer_io as transfer
from app.commands.cli import main
from app.settings import Settings
from app.web import create_app
from memory.models import GraphQuery, Message, Scope
from tests.api.conftest import ClientFactory
from tests.api.ops import GQL

SECRET = "Zanzibarcorp"
ADD = """mutation($text: String!) { addMemories(input: {messages: [{role: "user", content: $text}],
  scope: {userId: "alice"}}) { changes { id event } } }"""
UPDATE = "mutation($id: ID!, $text: String!) { updateMemory(input: {id: $id, text: $text}) { id } }"
PURGE = "mutation($id: ID!) { deleteMemory(id: $id, purge: true) { id } }"
HISTORY = "query($id: ID!) { history(memoryId: $id) { event oldText newText reason actor } }"
GRAPH = '{ entities(scope: {userId: "alice"}) { nodes { name } } relations(filter: {includeInvalid: true}) { nodes { destination } } }'


def files_holding(root: Path, needle: str, skip: str | None = None) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and (skip is None or skip not in path.parts):
            if needle.encode() in path.read_bytes() or needle.lower().encode() in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return found


async def export_text(settings: Settings) -> str:
    out = io.StringIO()
    await transfer.export(settings, out)
    return out.getvalue()


async def test_purge_leaves_no_text_in_sql_index_graph_or_export(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": True, "embedded_heap_mb": 256}, auth={"mode": "development"})
    client: TestClient = await aiohttp_client(create_app(settings))
    gql = GQL(client)
    (change,) = (await gql.data(ADD, text=f"I work at {SECRET}."))["addMemories"]["changes"]
    await gql.data(ADD, text="I live in Lisbon.")
    await gql.data(UPDATE, id=change["id"], text=f"I work at {SECRET} Labs.")
    await gql.service.keeper.snapshot()
    assert SECRET.lower() in str(await gql.data(GRAPH))  # it was there: extracted into the graph
    await gql.data(PURGE, id=change["id"])
    await gql.service.keeper.snapshot()
    graph = str(await gql.data(GRAPH))
    assert SECRET.lower() not in graph.lower() and "lisbon" in graph  # the other memory keeps its graph
    (*_, erased) = (await gql.data(HISTORY, id=change["id"]))["history"]
    assert (erased["event"], erased["oldText"], erased["newText"], erased["reason"]) == ("DELETE", None, None, "erased")
    assert erased["actor"]  # who erased it stays on record
    assert all(e["oldText"] is None and e["newText"] is None for e in (await gql.data(HISTORY, id=change["id"]))["history"])
    await client.close()  # the service closes: SQLite and the index are flushed
    assert files_holding(tmp_path, SECRET, skip="graph") == []  # SQL file, WAL, index files, secrets...
    assert SECRET.lower() not in (await export_text(settings)).lower()


async def test_rest_purge_erases_the_history_text(client: TestClient) -> None:
    body = await (await client.post("/v1/memories", json={"messages": f"my code is {SECRET}-77", "user_id": "bob",
                                                          "infer": False})).json()
    memory_id = body["results"][0]["id"]
    resp = await client.delete(f"/v1/memories/{memory_id}", params={"purge": "true"})
    assert resp.status == 200
    history = await (await client.get(f"/v1/memories/{memory_id}/history")).json()
    assert SECRET not in str(history) and len(history) == 2


def test_the_erase_command_forgets_a_user_including_memories_deleted_before(tmp_path: Path, capsys) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": False})
    bob = Scope(user_id="bob")

    async def prepare() -> None:
        async with bootstrap.service_context(settings) as service:
            old = await service.add([Message("user", f"{SECRET} was my first employer")], bob, infer=False)
            await service.delete(old.results[0].id)  # a plain delete keeps the text in the history
            await service.add([Message("user", f"{SECRET} pays me well")], bob, infer=False)
            await service.add([Message("user", "carol's own memory")], Scope(user_id="carol"), infer=False)

    asyncio.run(prepare())
    assert SECRET.lower() in asyncio.run(export_text(settings)).lower()
    assert main(["erase", "--user-id", "bob", "--set", f"data_dir={tmp_path}", "--set", "graph.enabled=false"]) == 0
    assert "erased 1 memories" in capsys.readouterr().err
    exported = asyncio.run(export_text(settings))
    assert SECRET.lower() not in exported.lower() and "carol's own memory" in exported
    assert files_holding(tmp_path, SECRET) == []
