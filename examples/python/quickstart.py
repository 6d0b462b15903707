"""AgentMem from Python: a subscription, a mutation and a query with `gql` (pip install
'gql[aiohttp,websockets]').

    AGENTMEM_URL=http://127.0.0.1:8000/graphql AGENTMEM_API_KEY=... python examples/python/quickstart.py
"""
from __future__ import annotations

import asyncio
import os
import sys
import time

from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportError
from gql.transport.websockets import WebsocketsTransport

URL = os.environ.get("AGENTMEM_URL", "http://127.0.0.1:8000/graphql")
API_KEY = os.environ.get("AGENTMEM_API_KEY")  # unset: a server in auth.mode = development
AUTH = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}
USER = f"py-demo-{int(time.time() * 1000)}"

EVENTS = GraphQLRequest("""
subscription Events($scope: ScopeInput) {
  memoryEvents(scope: $scope) { kind memoryId memory { text } }
}""", variable_values={"scope": {"userId": USER}})

ADD = GraphQLRequest("""
mutation Add($input: AddMemoriesInput!) {
  addMemories(input: $input) { changes { id event text } }
}""", variable_values={"input": {
    "messages": [{"role": "user", "content": "I am allergic to peanuts"}],
    "scope": {"userId": USER},
    "infer": False,  # store the message verbatim
}})

SEARCH = GraphQLRequest("""
query Search($query: String!, $scope: ScopeInput!) {
  search(query: $query, scope: $scope, limit: 3) { hits { score memory { id text } } }
}""", variable_values={"query": "what food should the user avoid?", "scope": {"userId": USER}})


async def first_event(session: object) -> dict:
    async for result in session.subscribe(EVENTS):  # type: ignore[attr-defined]
        return result["memoryEvents"]
    raise RuntimeError("the subscription ended without an event")


async def main() -> int:
    ws = WebsocketsTransport(url=URL.replace("http", "ws", 1), subprotocols=["graphql-transport-ws"], init_payload=AUTH)
    http = AIOHTTPTransport(url=URL, headers=AUTH)
    async with Client(transport=ws) as live, Client(transport=http) as client:
        waiting = asyncio.create_task(first_event(live))  # subscribe before changing anything
        await asyncio.sleep(0.3)
        added = (await client.execute(ADD))["addMemories"]["changes"]
        print("added:", added)
        event = await asyncio.wait_for(waiting, 10)
        print("event:", event["kind"], event["memory"]["text"])
        hits = (await client.execute(SEARCH))["search"]["hits"]
        for hit in hits:
            print(f"search: {hit['score']:.3f} {hit['memory']['text']}")
    return 0 if hits and hits[0]["memory"]["id"] == added[0]["id"] else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except TransportError as exc:  # refused key (the WebSocket closes with 4403), server down...
        sys.exit(f"error: {type(exc).__name__}: {exc}")
