"""Project settings across replicas (two services on one PostgreSQL database) and on the way to
the LLM (the project's instructions and categories in the extraction prompt, through the real
OpenAI-compatible client and the local fake server)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from history.engine import create_engine
from history.project import SqlProjectSettingsStore
from history.repository import SqlMemoryRepository
from memory.models import Message, Scope
from memory.providers.openai_compat import OpenAIChatLLM
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.project import InMemoryProjectSettingsStore
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")


async def test_a_change_on_one_replica_reaches_the_other_after_its_cache_period(pg_url: str, tmp_path: Path) -> None:
    engines = [create_engine(pg_url) for _ in range(2)]
    a, b = (MemoryService(SqlMemoryRepository(e), BruteForceIndex(), HashingEmbedder(),
                          project=SqlProjectSettingsStore(e), options=ServiceOptions(project_settings_ttl_s=0.1))
            for e in engines)
    try:
        assert (await b.project_settings()).custom_categories is None  # b now holds "not set"
        await a.update_project_settings(custom_categories=[{"meals": "sushi dinner lunch"}])
        for _ in range(50):
            if (await b.project_settings()).custom_categories is not None:
                break
            await asyncio.sleep(0.05)
        added = await b.add([Message("user", "sushi for dinner")], ALICE, infer=False)
        assert (await b.get(added.results[0].id)).categories == ("meals",)
    finally:
        for s in (a, b):
            await s._repo.close()


async def test_the_projects_instructions_and_categories_reach_the_prompt_unless_the_add_brings_its_own(
    fake_openai,
) -> None:
    llm = OpenAIChatLLM(fake_openai.base_url, "fake-model", "sk-test", max_retries=0, timeout=5)
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), llm=llm,
                        project=InMemoryProjectSettingsStore())
    try:
        await svc.update_project_settings(custom_instructions="Only remember facts about orders.",
                                          custom_categories=[{"orders": "purchases, deliveries, refunds"}])
        answer = json.dumps({"facts": ["Ordered a lamp"], "relations": [], "categories": {"Ordered a lamp": ["orders"]}})
        fake_openai.script_chat([answer, answer])
        first = await svc.add([Message("user", "I ordered a lamp")], ALICE)
        await svc.add([Message("user", "I ordered a lamp")], Scope(user_id="bob"), prompt="Remember everything.")
        project_prompt, own_prompt = (r["messages"][0]["content"] for r in fake_openai.chat_requests[:2])
        assert "Only remember facts about orders." in project_prompt and "- orders: purchases" in project_prompt
        assert "Remember everything." in own_prompt and "Only remember facts about orders." not in own_prompt
        assert (await svc.get(first.results[0].id)).categories == ("orders",)
    finally:
        await llm.aclose()
