"""GraphQL documents and helpers the API tests share."""
from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from app.keys import SERVICE_KEY


class GQL:
    """POSTs an operation to /graphql and returns the decoded JSON body."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def __call__(self, document: str, /, **variables: Any) -> dict[str, Any]:
        resp = await self.client.post("/graphql", json={"query": document, "variables": variables})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def data(self, document: str, /, **variables: Any) -> dict[str, Any]:
        body = await self(document, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    @property
    def service(self) -> Any:
        return self.client.app[SERVICE_KEY]


MEMORY_FIELDS = "id text userId agentId runId metadata categories createdAt updatedAt invalidatedAt valid"

ADD = f"""
mutation Add($input: AddMemoriesInput!) {{
  addMemories(input: $input) {{
    changes {{ id text event previousText memory {{ {MEMORY_FIELDS} }} }}
    relationsAdded {{ source relation destination }}
    relationsInvalidated {{ source relation destination }}
    graphPending
    storedRaw
  }}
}}"""

MEMORIES = f"""
query Page($scope: ScopeInput, $filter: MemoryFilter, $first: Int! = 20, $after: String,
           $orderBy: MemoryOrder! = CREATED_DESC, $includeInvalidated: Boolean! = false) {{
  memories(scope: $scope, filter: $filter, first: $first, after: $after, orderBy: $orderBy,
           includeInvalidated: $includeInvalidated) {{
    edges {{ cursor node {{ {MEMORY_FIELDS} }} }}
    nodes {{ id text }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""

SEARCH = """
query Search($query: String!, $scope: ScopeInput!, $filter: MemoryFilter, $limit: Int! = 10, $threshold: Float) {
  search(query: $query, scope: $scope, filter: $filter, limit: $limit, threshold: $threshold) {
    hits { score memory { id text metadata } }
    relations { source relation destination }
  }
}"""

SUBSCRIBE = """
subscription Events($scope: ScopeInput, $events: [MemoryEventKind!]) {
  memoryEvents(scope: $scope, events: $events) {
    kind at userId agentId runId memoryId previousText origin
    memory { id text metadata }
    relation { source relation destination }
  }
}"""


def add_input(text: str, user: str = "alice", **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], "scope": {"userId": user}, "infer": False, **extra}
