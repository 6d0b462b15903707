"""Feedback on memories (mem0's POSITIVE / NEGATIVE / VERY_NEGATIVE), and the event time of an add."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memory.access import Principal, Role
from memory.errors import InvalidInput, NotFound
from memory.guarded import GuardedMemoryService
from memory.models import FeedbackRating, Message, Scope
from memory.service import MemoryService
from tests.fakes.repository import InMemoryRepository

ALICE = Scope(user_id="alice")


async def remember(service: MemoryService, text: str, scope: Scope = ALICE) -> str:
    return (await service.add([Message("user", text)], scope, infer=False)).results[0].id


async def test_feedback_is_stored_replaced_and_cleared(service: MemoryService) -> None:
    id = await remember(service, "I like tea")
    given = await service.give_feedback(id, FeedbackRating.NEGATIVE, " not true any more ", actor="key-1")
    assert given is not None and (given.rating, given.reason, given.actor) == (FeedbackRating.NEGATIVE,
                                                                              "not true any more", "key-1")
    assert (await service.feedback([id]))[id] == given
    again = await service.give_feedback(id, FeedbackRating.POSITIVE)
    assert (await service.feedback([id]))[id] == again and again is not None and again.reason is None
    assert await service.give_feedback(id, None) is None
    assert await service.feedback([id]) == {}


async def test_feedback_is_refused_for_unknown_memories_and_odd_input(service: MemoryService) -> None:
    with pytest.raises(NotFound):
        await service.give_feedback("no-such-id", FeedbackRating.POSITIVE)
    id = await remember(service, "I like tea")
    with pytest.raises(InvalidInput, match="feedback_reason needs a feedback value"):
        await service.give_feedback(id, None, "why")
    with pytest.raises(InvalidInput, match="longer than 2000"):
        await service.give_feedback(id, FeedbackRating.POSITIVE, "x" * 2001)
    with pytest.raises(InvalidInput, match="feedback must be one of"):
        await service.give_feedback(id, "GREAT", None)  # type: ignore[arg-type]
    assert await service.feedback([id]) == {}


@pytest.mark.parametrize("purge", [False, True])
async def test_deleting_a_memory_takes_its_feedback(service: MemoryService, repo: InMemoryRepository,
                                                    purge: bool) -> None:
    one, two = await remember(service, "I like tea"), await remember(service, "I live in Oslo")
    await service.give_feedback(one, FeedbackRating.VERY_NEGATIVE, "wrong person")
    await service.give_feedback(two, FeedbackRating.POSITIVE)
    await service.delete(one, purge=purge)
    assert await service.feedback([one, two]) == {two: (await service.feedback([two]))[two]}
    await service.delete_all(ALICE, purge=purge)
    assert repo.feedbacks == {}


async def test_another_users_memory_takes_no_feedback_and_shows_none(service: MemoryService) -> None:
    bobs = await remember(service, "I like chess", Scope(user_id="bob"))
    await service.give_feedback(bobs, FeedbackRating.POSITIVE, "bob says so")
    as_alice = GuardedMemoryService(service, Principal("key-a", Role.USER, user_id="alice"))
    with pytest.raises(NotFound):
        await as_alice.give_feedback(bobs, FeedbackRating.VERY_NEGATIVE)
    assert await as_alice.feedback([bobs]) == {}
    mine = await remember(service, "I like tea")
    given = await as_alice.give_feedback(mine, FeedbackRating.NEGATIVE)
    assert given is not None and given.actor == "key-a"
    assert (await service.feedback([bobs]))[bobs].reason == "bob says so"


async def test_reset_forgets_feedback(service: MemoryService) -> None:
    id = await remember(service, "I like tea")
    await service.give_feedback(id, FeedbackRating.POSITIVE)
    await service.reset()
    assert await service.feedback([id]) == {}


async def test_an_adds_event_time_is_kept_and_checked(service: MemoryService) -> None:
    at = datetime(2023, 5, 1, 12, 0)  # naive: read as UTC
    result = await service.add([Message("user", "I ran a marathon")], ALICE, infer=False, occurred_at=at)
    assert result.results[0].record is not None
    assert result.results[0].record.event_time == at.replace(tzinfo=UTC)
    for absurd in (datetime(1850, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=3)):
        with pytest.raises(InvalidInput, match="occurred_at .* is out of range"):
            await service.add([Message("user", "I ran")], ALICE, occurred_at=absurd)
        with pytest.raises(InvalidInput, match=r"messages\[0\].occurred_at .* is out of range"):
            await service.add([Message("user", "I ran", absurd)], ALICE, infer=False)
    assert [m.text for m in (await service.list_memories(ALICE)).items] == ["I ran a marathon"]


async def test_includes_and_excludes_are_refused_without_an_llm(service: MemoryService) -> None:
    for name in ("includes", "excludes"):
        with pytest.raises(InvalidInput, match=f"{name} .* needs an LLM"):
            await service.add([Message("user", "I like tea")], ALICE, **{name: "food"})
    assert (await service.list_memories(ALICE)).items == []
