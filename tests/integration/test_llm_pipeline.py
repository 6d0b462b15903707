"""The LLM path of add(), through the real OpenAI-compatible client and a local fake server."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import AsyncIterator

import pytest

from memory.errors import InvalidInput
from memory.models import ChangeEvent, Message, Scope
from memory.providers.openai_compat import OpenAIChatLLM
from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")


def extraction(facts: list[str], relations: list[dict] | None = None) -> str:
    return json.dumps({"facts": facts, "relations": relations or []})


def decisions(*items: dict) -> str:
    return json.dumps({"decisions": list(items)})


@pytest.fixture
async def llm_service(fake_openai) -> AsyncIterator[MemoryService]:
    llm = OpenAIChatLLM(fake_openai.base_url, "fake-model", "sk-test", max_retries=0, timeout=5)
    svc = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder(), graph=InMemoryGraph(), llm=llm,
                        options=ServiceOptions(graph_write_timeout_s=1))
    await svc.start()
    yield svc
    await svc.stop()
    await llm.aclose()


async def test_llm_facts_are_added_and_relations_reach_the_graph(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([
        extraction(["Works at Acme as an engineer"], [{"source": "alice", "relation": "works at", "destination": "Acme"}]),
    ])
    result = await llm_service.add([Message("user", "I'm an engineer at Acme")], ALICE)
    assert [(c.event, c.memory) for c in result.results] == [(ChangeEvent.ADD, "Works at Acme as an engineer")]
    assert [(r.source, r.relation, r.destination) for r in result.relations_added] == [("alice", "WORKS_AT", "acme")]
    sent = fake_openai.chat_requests[0]
    assert sent["model"] == "fake-model" and "I'm an engineer at Acme" in sent["messages"][-1]["content"]


async def test_llm_update_decision_rewrites_the_existing_memory(llm_service: MemoryService, fake_openai) -> None:
    old = (await llm_service.add([Message("user", "Likes tea")], ALICE, infer=False)).results[0]
    fake_openai.script_chat([
        extraction(["Likes green tea with honey"]),
        decisions({"id": "0", "event": "UPDATE", "text": "Likes green tea with honey"}),
    ])
    result = await llm_service.add([Message("user", "I like green tea with honey")], ALICE)
    assert [(c.id, c.event, c.previous_memory) for c in result.results] == [(old.id, ChangeEvent.UPDATE, "Likes tea")]
    assert (await llm_service.get(old.id)).text == "Likes green tea with honey"
    decision_prompt = json.loads(fake_openai.chat_requests[1]["messages"][-1]["content"])
    assert decision_prompt["existing_memories"] == [{"id": "0", "text": "Likes tea"}]


async def test_llm_delete_is_a_soft_invalidation_kept_in_history(llm_service: MemoryService, fake_openai) -> None:
    old = (await llm_service.add([Message("user", "Lives in Paris")], ALICE, infer=False)).results[0]
    fake_openai.script_chat([
        extraction(["Moved away from Paris"]),
        decisions({"id": "0", "event": "DELETE", "reason": "moved away"}, {"id": "new", "event": "ADD", "text": "Moved away from Paris"}),
    ])
    result = await llm_service.add([Message("user", "I moved away from Paris")], ALICE)
    assert {(c.event, c.memory) for c in result.results} == {
        (ChangeEvent.DELETE, "Lives in Paris"), (ChangeEvent.ADD, "Moved away from Paris"),
    }
    record = await llm_service.get(old.id)
    assert record.invalidated_at is not None and record.invalidation_reason == "moved away"
    visible = await llm_service.search("Lives in Paris", ALICE)
    assert old.id not in [h.record.id for h in visible.hits]
    with_old = await llm_service.search("Lives in Paris", ALICE, include_invalidated=True)
    assert with_old.hits[0].record.id == old.id
    assert [h.event for h in await llm_service.history(old.id)] == [ChangeEvent.ADD, ChangeEvent.INVALIDATE]


async def test_unusable_llm_output_after_one_retry_stores_the_messages_raw(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat(["this is not json", (500, {"error": {"message": "overloaded"}})])
    result = await llm_service.add([Message("user", "Remember my locker code is 4711"), Message("assistant", "Sure")], ALICE)
    assert result.stored_raw
    assert [c.memory for c in result.results] == ["Remember my locker code is 4711", "Sure"]
    assert len(fake_openai.chat_requests) == 2


async def test_one_failed_llm_call_is_retried(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([(503, {"error": {"message": "busy"}}), extraction(["Has a cat named Tom"])])
    result = await llm_service.add([Message("user", "My cat is called Tom")], ALICE)
    assert not result.stored_raw and [c.memory for c in result.results] == ["Has a cat named Tom"]


async def test_a_near_duplicate_fact_is_not_sent_for_a_decision(llm_service: MemoryService, fake_openai) -> None:
    first = (await llm_service.add([Message("user", "Likes tea")], ALICE, infer=False)).results[0]
    fake_openai.script_chat([extraction(["likes TEA"])])
    result = await llm_service.add([Message("user", "I like tea")], ALICE)
    assert [(c.id, c.event) for c in result.results] == [(first.id, ChangeEvent.NONE)]
    assert len(fake_openai.chat_requests) == 1


async def test_a_decision_naming_an_unknown_memory_falls_back_to_raw(llm_service: MemoryService, fake_openai) -> None:
    await llm_service.add([Message("user", "Likes tea")], ALICE, infer=False)
    fake_openai.script_chat([extraction(["Likes coffee"]), decisions({"id": "99", "event": "UPDATE", "text": "x"})])
    result = await llm_service.add([Message("user", "I like coffee")], ALICE)
    assert result.stored_raw and [c.memory for c in result.results] == ["I like coffee"]


async def test_llm_relations_carry_their_start_and_retractions_invalidate(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([
        extraction(["Works at Initech"], [{"source": "alice", "relation": "WORKS_AT", "destination": "Initech",
                                           "destination_type": "organisation", "valid_from": "2019-01-01"}]),
        extraction(["No longer works at Initech", "Moved to Berlin last month"], [
            {"source": "alice", "relation": "WORKS_AT", "destination": "Initech", "negated": True},
            {"source": "alice", "relation": "LIVES_IN", "destination": "Berlin", "valid_from": "last month?"},
        ]),
        decisions({"id": "new", "event": "ADD", "text": "No longer works at Initech"},
                  {"id": "new", "event": "ADD", "text": "Moved to Berlin last month"}),
    ])
    first = await llm_service.add([Message("user", "I've worked at Initech since 2019")], ALICE)
    assert [(r.destination, r.valid_from) for r in first.relations_added] == [("initech", datetime(2019, 1, 1, tzinfo=UTC))]
    second = await llm_service.add([Message("user", "I left Initech and moved to Berlin last month")], ALICE)
    assert [(r.destination, r.valid) for r in second.relations_invalidated] == [("initech", False)]
    # an unreadable date loses the date, not the relation
    assert [(r.destination, r.valid_from) for r in second.relations_added] == [("berlin", None)]
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "valid_from" in system and "negated" in system and "two relations" in system


async def test_a_custom_prompt_is_extra_instructions_inside_our_prompt(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([extraction(["Allergic to peanuts"])])
    result = await llm_service.add([Message("user", "I'm allergic to peanuts, and it's sunny")], ALICE,
                                   prompt="Only remember health facts.")
    assert [c.memory for c in result.results] == ["Allergic to peanuts"]
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "Only remember health facts." in system and '"facts"' in system  # our JSON shape is still asked for


async def test_a_custom_prompt_is_refused_where_it_cannot_apply(llm_service: MemoryService) -> None:
    with pytest.raises(InvalidInput, match="infer=false"):
        await llm_service.add([Message("user", "x")], ALICE, infer=False, prompt="Only health facts.")
    offline = MemoryService(InMemoryRepository(), BruteForceIndex(), HashingEmbedder())
    with pytest.raises(InvalidInput, match="needs an LLM"):
        await offline.add([Message("user", "I like tea")], ALICE, prompt="Only health facts.")
    assert (await offline.list_memories(ALICE)).items == []  # nothing half-written


async def test_llm_update_and_delete_decisions_leave_immutable_memories_as_they_are(
        llm_service: MemoryService, fake_openai) -> None:
    blood = (await llm_service.add([Message("user", "Blood type is O+")], ALICE, infer=False,
                                   immutable=True)).results[0]
    city = (await llm_service.add([Message("user", "Lives in Paris")], ALICE, infer=False,
                                  immutable=True)).results[0]
    fake_openai.script_chat([
        extraction(["Blood type is AB", "Moved away from Paris"]),
        # the prompt lists both memories; which key is which comes from the prompt itself
        lambda body: decisions(*[
            {"id": m["id"], "event": "UPDATE", "text": "Blood type is AB"} if m["text"] == "Blood type is O+"
            else {"id": m["id"], "event": "DELETE", "reason": "moved away"}
            for m in json.loads(body["messages"][-1]["content"])["existing_memories"]
        ]),
    ])
    result = await llm_service.add([Message("user", "My blood type is AB and I moved away from Paris")], ALICE)
    assert len(fake_openai.chat_requests) == 2  # the decision step really ran
    for kept, text in ((blood, "Blood type is O+"), (city, "Lives in Paris")):
        record = await llm_service.get(kept.id)
        assert (record.text, record.valid, record.immutable) == (text, True, True)
        assert [h.event for h in await llm_service.history(kept.id)] == [ChangeEvent.ADD]
    assert {(c.id, c.event) for c in result.results if c.id in (blood.id, city.id)} == {
        (blood.id, ChangeEvent.NONE), (city.id, ChangeEvent.NONE)}
    # the fact the model wanted to write over the immutable memory is kept as a memory of its own
    assert "Blood type is AB" in [c.memory for c in result.results if c.event == ChangeEvent.ADD]


async def test_includes_and_excludes_steer_the_extraction_prompt(llm_service: MemoryService, fake_openai) -> None:
    fake_openai.script_chat([extraction(["Plays tennis on Sundays"])])
    result = await llm_service.add(
        [Message("user", "I play tennis on Sundays and my blood pressure is high")], ALICE,
        prompt="Be brief.", includes="hobbies and sports", excludes="health and medical details")
    assert [c.memory for c in result.results] == ["Plays tennis on Sundays"]  # the model's answer, as given
    assert [m.text for m in (await llm_service.list_memories(ALICE)).items] == ["Plays tennis on Sundays"]
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "Be brief." in system
    assert "Only remember facts about: hobbies and sports" in system
    assert "Never remember facts about (leave them out even when stated): health and medical details" in system
    assert '"facts"' in system  # our answer shape is still asked for
    with pytest.raises(InvalidInput, match="excludes .* infer=false"):
        await llm_service.add([Message("user", "x")], ALICE, infer=False, excludes="health")
