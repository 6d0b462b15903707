"""GraphQL: createMemoryExport / memoryExport, and messages carrying an image (imageUrl)
described by a local fake vision server; without one, code VISION_NOT_CONFIGURED."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import GraphSettings, Settings
from tests.api.ops import GQL
from tests.fixtures.openai_fake import FakeOpenAI

ADD = """mutation($input: AddMemoriesInput!) { addMemories(input: $input) { changes { text memory { metadata } } } }"""
CREATE = """mutation($scope: ScopeInput, $filter: MemoryFilter, $schema: JSON) {
  createMemoryExport(scope: $scope, filter: $filter, schema: $schema) { id status userId } }"""
GET = """query($id: ID!) { memoryExport(id: $id) { id status count error finishedAt result } }"""


async def add_text(gql: GQL, text: str, **metadata: object) -> None:
    await gql.data(ADD, input={"messages": [{"role": "user", "content": text}], "scope": {"userId": "alice"},
                               "infer": False, "metadata": metadata})


async def test_create_and_read_an_export(gql: GQL) -> None:
    await add_text(gql, "I love pizza", topic="food")
    await add_text(gql, "I live in Paris", topic="home")
    created = (await gql.data(CREATE, scope={"userId": "alice"},
                              filter={"field": {"name": "topic", "eq": "food"}},
                              schema={"properties": {"memory": {}, "topic": {}}}))["createMemoryExport"]
    assert created["status"] == "QUEUED" and created["userId"] == "alice"
    await gql.service.exports.wait()
    job = (await gql.data(GET, id=created["id"]))["memoryExport"]
    assert job["status"] == "COMPLETED" and job["count"] == 1 and job["error"] is None
    assert job["result"] == [{"memory": "I love pizza", "topic": "food"}]


async def test_an_unknown_export_is_not_found(gql: GQL) -> None:
    body = await gql(GET, id="no-such-export")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_without_a_vision_model_an_image_message_says_so(gql: GQL) -> None:
    body = await gql(ADD, input={"messages": [{"role": "user", "imageUrl": "https://example.com/a.png"}],
                                 "scope": {"userId": "alice"}})
    assert body["errors"][0]["extensions"]["code"] == "VISION_NOT_CONFIGURED"
    assert "vision model" in body["errors"][0]["message"]


async def test_a_message_needs_content_or_an_image(gql: GQL) -> None:
    body = await gql(ADD, input={"messages": [{"role": "user"}], "scope": {"userId": "alice"}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


class TestWithVision:
    @pytest.fixture
    def service_settings(self, tmp_path: Path, fake_openai: FakeOpenAI) -> Settings:
        return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        vision={"base_url": fake_openai.base_url})

    async def test_an_image_message_is_remembered_as_its_description(self, gql: GQL, fake_openai: FakeOpenAI) -> None:
        fake_openai.script_chat(["A handwritten note that reads: buy milk."])
        data = await gql.data(ADD, input={"messages": [{"role": "user", "imageUrl": "https://example.com/note.jpg"}],
                                          "scope": {"userId": "alice"}, "infer": False})
        (change,) = data["addMemories"]["changes"]
        assert change["text"] == "A handwritten note that reads: buy milk."
        assert change["memory"]["metadata"]["image_sources"] == [{"url": "https://example.com/note.jpg"}]
        (part,) = [p for p in fake_openai.chat_requests[0]["messages"][0]["content"] if p["type"] == "image_url"]
        assert part["image_url"]["url"] == "https://example.com/note.jpg"
