"""The replay log behind /v1/events: numbering, scope and kind selection, resuming after an id,
and telling a reader what it missed."""
from __future__ import annotations

import asyncio

import pytest

from memory.event_log import EventLog, Gap, Logged
from memory.events import EventKind, MemoryEvent
from memory.models import Scope

ALICE, BOB = Scope(user_id="alice"), Scope(user_id="bob")


def event(kind: EventKind, scope: Scope, id: str | None = "m") -> MemoryEvent:
    return MemoryEvent(kind, scope, id)


def texts(items: list[Logged | Gap]) -> list[str]:
    return [f"gap:{i.reason}" if isinstance(i, Gap) else f"{i.event.kind}:{i.event.memory_id}" for i in items]


def test_a_reader_gets_what_its_scope_and_kinds_select_from_now_on() -> None:
    log = EventLog(10, epoch="e")
    log.append(event(EventKind.ADD, ALICE, "before"))
    reader = log.reader(ALICE, frozenset({EventKind.ADD, EventKind.RESET}), None)
    log.append(event(EventKind.ADD, BOB, "bob"))
    log.append(event(EventKind.DELETE, ALICE, "deleted"))
    log.append(event(EventKind.ADD, ALICE, "a1"))
    log.append(event(EventKind.RESET, Scope(), None))
    items = reader.take()
    assert texts(items) == ["ADD:a1", "RESET:None"]
    assert [i.id for i in items if isinstance(i, Logged)] == ["e-4", "e-5"]
    assert reader.take() == []


def test_resuming_after_an_id_replays_what_came_later() -> None:
    log = EventLog(10, epoch="e")
    for n in range(3):
        log.append(event(EventKind.ADD, ALICE, f"m{n}"))
    assert texts(log.reader(None, None, "e-1").take()) == ["ADD:m1", "ADD:m2"]
    assert log.reader(None, None, log.last_id).take() == []


@pytest.mark.parametrize("after, reason", [("e-1", "expired"), ("other-1", "unknown"), ("e-99", "unknown"),
                                           ("garbage", "unknown")])
def test_a_reader_that_cannot_resume_exactly_is_told_first(after: str, reason: str) -> None:
    log = EventLog(2, epoch="e")
    for n in range(4):
        log.append(event(EventKind.ADD, ALICE, f"m{n}"))
    items = log.reader(None, None, after).take()
    assert texts(items) == [f"gap:{reason}", "ADD:m2", "ADD:m3"]
    assert isinstance(items[0], Gap) and items[0].oldest == "e-3"


def test_a_slow_reader_overtaken_by_the_buffer_gets_a_gap() -> None:
    log = EventLog(2, epoch="e")
    reader = log.reader(None, None, None)
    for n in range(5):
        log.append(event(EventKind.ADD, ALICE, f"m{n}"))
    assert texts(reader.take()) == ["gap:expired", "ADD:m3", "ADD:m4"]


async def test_wait_returns_when_something_is_logged_or_times_out() -> None:
    log = EventLog(5)
    reader = log.reader(None, None, None)
    assert await reader.wait(0.01) is False
    waiting = asyncio.create_task(reader.wait(5))
    await asyncio.sleep(0)
    log.append(event(EventKind.ADD, ALICE))
    assert await waiting is True
    assert await reader.wait(5) is True  # not taken yet: no waiting at all
