"""Images in messages through the REST facade, in mem0's shape: a local fake vision server
(an OpenAI-compatible chat endpoint) describes each image; the description is what is
remembered and the image's source is kept in metadata. Without a vision model, bad images, or
with the model down, the add is refused and nothing is stored."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.settings import GraphSettings, Settings
from tests.fixtures.openai_fake import FakeOpenAI
from tests.rest.conftest import error, ok

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def sent_image(fake: FakeOpenAI, n: int = -1) -> str:
    """The image URL the vision server received in request `n`."""
    (message,) = fake.chat_requests[n]["messages"]
    parts = {part["type"]: part for part in message["content"]}
    assert parts["text"]["text"]  # the instruction
    return str(parts["image_url"]["image_url"]["url"])


async def memories(client: TestClient, user_id: str = "alice") -> list[dict[str, Any]]:
    return (await ok(await client.get("/v1/memories/", params={"user_id": user_id})))["results"]


class TestWithVision:
    @pytest.fixture
    def service_settings(self, tmp_path: Path, fake_openai: FakeOpenAI) -> Settings:
        return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        vision={"base_url": fake_openai.base_url, "model": "eyes", "max_image_bytes": 1024})

    async def test_an_image_url_is_described_and_its_source_kept(self, client: TestClient,
                                                                 fake_openai: FakeOpenAI) -> None:
        fake_openai.script_chat(["A red bicycle leaning on a blue door."])
        url = "https://example.com/bike.jpg"
        body = await ok(await client.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": image(url)}], "user_id": "alice", "infer": False}))
        assert [r["memory"] for r in body["results"]] == ["A red bicycle leaning on a blue door."]
        assert sent_image(fake_openai) == url and fake_openai.chat_requests[-1]["model"] == "eyes"
        (stored,) = await memories(client)
        assert stored["metadata"]["image_sources"] == [{"url": url}]

    async def test_a_data_uri_keeps_type_size_and_hash_not_the_bytes(self, client: TestClient,
                                                                     fake_openai: FakeOpenAI) -> None:
        fake_openai.script_chat(["A tiny test pattern."])
        await ok(await client.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": image(DATA_URI)}], "user_id": "alice", "infer": False}))
        assert sent_image(fake_openai) == DATA_URI
        (stored,) = await memories(client)
        assert stored["metadata"]["image_sources"] == [
            {"media_type": "image/png", "bytes": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest()}]
        assert base64.b64encode(PNG).decode() not in str(stored)

    async def test_text_and_image_parts_in_one_message(self, client: TestClient, fake_openai: FakeOpenAI) -> None:
        fake_openai.script_chat(["A photo of a golden retriever on a beach."])
        body = await ok(await client.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": [{"type": "text", "text": "This is my dog Rex"},
                                                      image("http://example.com/rex.png")]}],
            "user_id": "alice", "infer": False}))
        assert [r["memory"] for r in body["results"]] == [
            "This is my dog Rex", "A photo of a golden retriever on a beach."]

    @pytest.mark.parametrize("url, says", [
        ("data:image/png;base64," + base64.b64encode(b"x" * 2000).decode(), "larger than 1024 bytes"),
        ("data:image/png;base64,not*base64", "not valid base64"),
        ("data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode(), "not accepted"),
        ("ftp://example.com/a.png", "http(s)"),
        ("data:image/png,raw", "data URI"),
    ])
    async def test_a_bad_image_is_a_400_before_the_model_is_asked(self, client: TestClient, fake_openai: FakeOpenAI,
                                                                  url: str, says: str) -> None:
        detail = await error(await client.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": image(url)}], "user_id": "alice", "infer": False}),
            400, "BAD_USER_INPUT")
        assert says in detail and fake_openai.chat_requests == []

    async def test_vision_down_is_a_502_and_nothing_is_stored(self, client: TestClient,
                                                              fake_openai: FakeOpenAI) -> None:
        fake_openai.script_chat(["A cat."] + [(503, {"error": {"message": "overloaded"}})] * 3)
        await error(await client.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": "Look at these"},
                         {"role": "user", "content": image("https://example.com/cat.png")},
                         {"role": "user", "content": image("https://example.com/dog.png")}],
            "user_id": "alice", "infer": False}), 502, "PROVIDER_ERROR")
        assert await memories(client) == []  # not the text, not the first image's description


async def test_without_a_vision_model_an_image_is_a_clear_400(client: TestClient) -> None:
    detail = await error(await client.post("/v1/memories/", json={
        "messages": [{"role": "user", "content": image("https://example.com/bike.jpg")}], "user_id": "alice"}),
        400, "VISION_NOT_CONFIGURED")
    assert "vision model" in detail and "vision.base_url" in detail
    assert await memories(client) == []
