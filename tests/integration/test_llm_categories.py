"""Categories from the LLM: asked in the extraction call itself (one round trip), through the real
OpenAI-compatible client and the local fake server."""
from __future__ import annotations

import json
from typing import AsyncIterator

import pytest

from memory.categories import Category
from memory.models import Message, Scope
from memory.providers.openai_compat import OpenAIChatLLM
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")
SET = (Category("food", "dishes, restaurants, diet"), Category("travel", "trips, flights, hotels"),
       Category("misc", "anything else"))


@pytest.fixture
async def llm_service(fake_openai) -> AsyncIterator[MemoryService]:
    llm = OpenAIChatLLM(fake_openai.base_url, "fake-model", "sk-test", max_retries=0, timeout=5)
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), llm=llm,
                        options=ServiceOptions(categories=SET, max_categories=2))
    await svc.start()
    yield svc
    await svc.stop()
    await llm.aclose()


def extraction(facts: list[str], categories: dict[str, list[str]] | None = None) -> str:
    answer: dict[str, object] = {"facts": facts, "relations": []}
    if categories is not None:
        answer["categories"] = categories
    return json.dumps(answer)


async def test_the_extraction_call_files_the_facts_in_one_round_trip(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([extraction(
        ["Is vegetarian", "Flies to Tokyo in May"],
        {"Is vegetarian": ["Food", "nonsense"], "Flies to Tokyo in May": ["travel", "food", "misc"]},
    )])
    result = await llm_service.add([Message("user", "I'm vegetarian and I fly to Tokyo in May")], ALICE)
    filed = {c.memory: (await llm_service.get(c.id)).categories for c in result.results}
    # names matched case-insensitively, unknown ones dropped, at most max_categories
    assert filed == {"Is vegetarian": ("food",), "Flies to Tokyo in May": ("travel", "food")}
    assert len(fake_openai.chat_requests) == 1  # no extra call for categories
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "- food: dishes, restaurants, diet" in system and "- travel: trips, flights, hotels" in system


async def test_custom_categories_reach_the_prompt(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([extraction(["Owes Bob 20 euros"], {"Owes Bob 20 euros": ["money"]})])
    custom = (Category("money", "debts, payments, prices"),)
    result = await llm_service.add([Message("user", "I owe Bob 20 euros")], ALICE, custom_categories=custom)
    assert (await llm_service.get(result.results[0].id)).categories == ("money",)
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "- money: debts, payments, prices" in system and "- food:" not in system


async def test_facts_the_model_did_not_file_are_filed_by_embedding(llm_service: MemoryService, fake_openai) -> None:
    # an answer without the categories map (or a malformed one) costs the categories, not the facts
    fake_openai.script_chat([json.dumps({"facts": ["Booked hotels and flights for the trips"], "relations": [],
                                         "categories": "food"})])
    result = await llm_service.add([Message("user", "I booked hotels and flights for my trips")], ALICE)
    assert (await llm_service.get(result.results[0].id)).categories == ("travel",)


async def test_explicit_categories_skip_the_question(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([extraction(["Likes ramen"], {"Likes ramen": ["food"]})])
    result = await llm_service.add([Message("user", "I like ramen")], ALICE, categories=["favourites"])
    assert (await llm_service.get(result.results[0].id)).categories == ("favourites",)
    assert "categories" not in fake_openai.chat_requests[0]["messages"][0]["content"].split("Answer with JSON")[0]


async def test_a_memory_an_llm_decision_rewrites_is_filed_again(llm_service: MemoryService, fake_openai) -> None:
    old = (await llm_service.add([Message("user", "Plans a trip")], ALICE, infer=False,
                                 categories=["someday"])).results[0]
    fake_openai.script_chat([
        extraction(["Plans a trip with hotels and flights to paris"], {}),
        json.dumps({"decisions": [{"id": "0", "event": "UPDATE",
                                   "text": "Plans a trip with hotels and flights to paris"}]}),
    ])
    await llm_service.add([Message("user", "I plan a trip with hotels and flights to Paris")], ALICE)
    assert (await llm_service.get(old.id)).categories == ("travel",)
