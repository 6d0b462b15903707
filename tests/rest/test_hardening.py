"""The REST facade refuses oversized filters and adds with a 400 and a JSON body."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from memory.filters import MAX_CONDITIONS, MAX_OPERANDS
from memory.validation import MAX_MESSAGES
from tests.rest.conftest import error, ok, remember


async def test_a_filter_over_the_caps_is_a_400(client: TestClient) -> None:
    await remember(client, "I like tea")
    many = {"OR": [{"keywords": {"icontains": f"w{i}"}} for i in range(MAX_CONDITIONS + 1)]}
    resp = await client.post("/v2/memories/", json={"filters": {"AND": [{"user_id": "alice"}, many]}})
    assert "conditions" in await error(resp, 400, "BAD_USER_INPUT")
    wide = {"AND": [{"user_id": "alice"}, {"metadata": {"topic": {"in": [str(i) for i in range(MAX_OPERANDS + 1)]}}}]}
    assert "values" in await error(await client.post("/v2/memories/search/", json={"query": "tea", "filters": wide}),
                                   400, "BAD_USER_INPUT")


async def test_an_add_over_the_message_cap_is_a_400(client: TestClient) -> None:
    messages = [{"role": "user", "content": f"fact {i}"} for i in range(MAX_MESSAGES + 1)]
    resp = await client.post("/v1/memories/", json={"messages": messages, "user_id": "alice", "infer": False})
    await error(resp, 400, "BAD_USER_INPUT")
    assert (await ok(await client.get("/v1/memories/", params={"user_id": "alice"})))["results"] == []
