from __future__ import annotations

import json
import time

import numpy as np
import pytest
from pydantic import BaseModel

from memory.errors import ProviderError
from memory.models import Message
from memory.providers.openai_compat import OpenAIChatLLM, OpenAIEmbedder, OpenAIVision, parse_json_answer
from tests.fixtures.openai_fake import Delay, FakeOpenAI


class Facts(BaseModel):
    facts: list[str]


MESSAGES = [Message("system", "Extract facts as JSON."), Message("user", "I like tea.")]


@pytest.fixture
async def embedder(fake_openai: FakeOpenAI):
    client = OpenAIEmbedder(fake_openai.base_url, "fake-embed", api_key="sk-test", backoff_s=0.001)
    yield client
    await client.aclose()


@pytest.fixture
async def llm(fake_openai: FakeOpenAI):
    client = OpenAIChatLLM(fake_openai.base_url, "fake-chat", api_key="sk-test", backoff_s=0.001)
    yield client
    await client.aclose()


async def test_embeddings_come_back_in_input_order_even_when_the_server_shuffles(
    embedder: OpenAIEmbedder, fake_openai: FakeOpenAI
) -> None:
    fake_openai.shuffle_embeddings = True
    texts = [f"text {i}" for i in range(9)]
    rows = await embedder.embed(texts)
    assert rows.dtype == np.float32 and rows.shape == (9, 384)
    for text, row in zip(texts, rows):
        np.testing.assert_allclose(row, fake_openai.vector(text), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    assert fake_openai.requests[0] == {"model": "fake-embed", "input": texts}
    assert fake_openai.headers[0]["Authorization"] == "Bearer sk-test"


async def test_embedding_dimension_is_discovered_from_the_first_answer(fake_openai: FakeOpenAI) -> None:
    fake_openai.embedding_dimension = 12
    client = OpenAIEmbedder(fake_openai.base_url, "m")
    with pytest.raises(ProviderError, match="dimension unknown"):
        _ = client.dimension
    assert await client.probe_dimension() == 12
    assert (await client.embed([])).shape == (0, 12)
    await client.aclose()


async def test_embeddings_of_an_unexpected_dimension_are_refused(fake_openai: FakeOpenAI) -> None:
    client = OpenAIEmbedder(fake_openai.base_url, "m", dimension=8)
    with pytest.raises(ProviderError, match="384-d"):
        await client.embed(["x"])
    await client.aclose()


async def test_large_inputs_are_sent_in_batches(fake_openai: FakeOpenAI) -> None:
    client = OpenAIEmbedder(fake_openai.base_url, "m", batch_size=4)
    rows = await client.embed([f"t{i}" for i in range(10)])
    assert [len(r["input"]) for r in fake_openai.embedding_requests] == [4, 4, 2]
    np.testing.assert_allclose(rows[9], fake_openai.vector("t9"), atol=1e-6)
    await client.aclose()


async def test_500_then_success_is_retried(embedder: OpenAIEmbedder, fake_openai: FakeOpenAI) -> None:
    fake_openai.script_embeddings([(500, {"error": {"message": "overloaded"}}), (503, "busy"), None])
    rows = await embedder.embed(["a"])
    np.testing.assert_allclose(rows[0], fake_openai.vector("a"), atol=1e-6)
    assert len(fake_openai.embedding_requests) == 3


async def test_429_is_retried_after_the_servers_retry_after(fake_openai: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    slow_down = (429, {"error": {"message": "slow down"}}, {"retry-after-ms": "300"})
    fake_openai.script_chat([slow_down, '{"facts": []}'])
    start = time.perf_counter()
    assert await llm.complete_json(MESSAGES, Facts) == Facts(facts=[])
    assert 0.3 <= time.perf_counter() - start < 3
    assert len(fake_openai.chat_requests) == 2


async def test_retries_give_up_with_the_servers_message(fake_openai: FakeOpenAI) -> None:
    client = OpenAIEmbedder(fake_openai.base_url, "m", max_retries=2, backoff_s=0.001)
    fake_openai.script_embeddings([(502, {"error": {"message": "upstream gone"}})] * 3)
    with pytest.raises(ProviderError, match="HTTP 502.*3 attempts: upstream gone"):
        await client.embed(["a"])
    await client.aclose()


async def test_client_errors_are_not_retried(llm: OpenAIChatLLM, fake_openai: FakeOpenAI) -> None:
    fake_openai.script_chat([(401, {"error": {"message": "bad key"}})])
    with pytest.raises(ProviderError, match="401.*API key.*bad key"):
        await llm.complete_json(MESSAGES, Facts)
    assert len(fake_openai.chat_requests) == 1


async def test_llm_sends_json_mode_at_temperature_zero(llm: OpenAIChatLLM, fake_openai: FakeOpenAI) -> None:
    fake_openai.script_chat(['{"facts": ["likes tea"]}'])
    assert await llm.complete_json(MESSAGES, Facts) == Facts(facts=["likes tea"])
    sent = fake_openai.chat_requests[0]
    assert sent["response_format"] == {"type": "json_object"} and sent["temperature"] == 0
    assert sent["model"] == "fake-chat"
    assert sent["messages"] == [{"role": "system", "content": "Extract facts as JSON."},
                                {"role": "user", "content": "I like tea."}]


async def test_llm_accepts_fenced_json_and_scripted_callables(llm: OpenAIChatLLM, fake_openai: FakeOpenAI) -> None:
    def echo_user(body: dict) -> str:
        return json.dumps({"facts": [body["messages"][-1]["content"]]})

    fake_openai.script_chat(['```json\n{"facts": ["a", "b"]}\n```', "Sure! Here it is: {\"facts\": []} Done.", echo_user])
    assert (await llm.complete_json(MESSAGES, Facts)).facts == ["a", "b"]
    assert (await llm.complete_json(MESSAGES, Facts)).facts == []
    assert (await llm.complete_json(MESSAGES, Facts)).facts == ["I like tea."]


async def test_llm_answer_not_matching_the_schema_is_a_provider_error(
    llm: OpenAIChatLLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(['{"facts": "not a list"}', "no json here at all", (200, {"choices": []})])
    with pytest.raises(ProviderError, match="does not match Facts.*facts"):
        await llm.complete_json(MESSAGES, Facts)
    with pytest.raises(ProviderError, match="is not JSON"):
        await llm.complete_json(MESSAGES, Facts)
    with pytest.raises(ProviderError, match="no choices"):
        await llm.complete_json(MESSAGES, Facts)


async def test_llm_timeout_is_a_provider_error_and_not_retried(fake_openai: FakeOpenAI) -> None:
    client = OpenAIChatLLM(fake_openai.base_url, "m", timeout=0.2, max_retries=3)
    fake_openai.script_chat([Delay(5, '{"facts": []}')])
    start = time.perf_counter()
    with pytest.raises(ProviderError, match="did not answer within 0.2s"):
        await client.complete_json(MESSAGES, Facts)
    assert time.perf_counter() - start < 2
    assert len(fake_openai.chat_requests) == 1
    await client.aclose()


async def test_unreachable_server_is_a_provider_error() -> None:
    client = OpenAIEmbedder("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_s=0.001)
    with pytest.raises(ProviderError, match="cannot reach"):
        await client.embed(["x"])
    await client.aclose()


async def test_chat_handler_answers_when_the_script_is_exhausted(llm: OpenAIChatLLM, fake_openai: FakeOpenAI) -> None:
    fake_openai.chat_handler = lambda body: '{"facts": ["default"]}'
    assert (await llm.complete_json(MESSAGES, Facts)).facts == ["default"]


@pytest.mark.parametrize(
    "content, expected",
    [('{"a": 1}', {"a": 1}), ('```\n{"a": 1}\n```', {"a": 1}), ('  ```JSON\n[1, 2]\n```  ', [1, 2]),
     ('text {"a": {"b": 2}} text', {"a": {"b": 2}})],
)
def test_parse_json_answer(content: str, expected: object) -> None:
    assert parse_json_answer(content) == expected


async def test_vision_sends_the_image_as_an_image_url_part_and_returns_the_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.script_chat(["  A lighthouse at dusk.  ", ""])
    vision = OpenAIVision(fake_openai.base_url, "eyes", "secret", max_tokens=120)
    try:
        assert await vision.describe("https://example.com/l.jpg") == "A lighthouse at dusk."
        with pytest.raises(ProviderError, match="empty answer"):
            await vision.describe("https://example.com/l.jpg")
    finally:
        await vision.aclose()
    body = fake_openai.chat_requests[0]
    assert body["model"] == "eyes" and body["max_tokens"] == 120 and "response_format" not in body
    (message,) = body["messages"]
    kinds = [part["type"] for part in message["content"]]
    assert kinds == ["text", "image_url"] and message["content"][1]["image_url"] == {"url": "https://example.com/l.jpg"}
    assert fake_openai.headers[0]["Authorization"] == "Bearer secret"
