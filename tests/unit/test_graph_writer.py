"""GraphWriter: a backlog left in the outbox by a graph outage drains after the graph returns,
even while new adds keep the writer's queue busy."""
from __future__ import annotations

import asyncio

from memory.graph_writer import GraphWriter
from memory.models import GraphWork, Scope, Triple, new_id, utcnow
from memory.ports import ChangeSet
from tests.fakes.graph import InMemoryGraph
from tests.fakes.repository import InMemoryRepository

ALICE = Scope("alice")


async def committed(repo: InMemoryRepository, i: int) -> GraphWork:
    work = GraphWork(new_id(), ALICE, (Triple("alice", "LIKES", f"thing {i}"),), None, utcnow())
    await repo.commit(ChangeSet(graph_work=[work]))  # the outbox row comes first, as in the service
    return work


async def test_a_backlog_drains_while_new_work_keeps_arriving() -> None:
    repo, graph = InMemoryRepository(), InMemoryGraph()
    writer = GraphWriter(graph, repo, max_batch=4, drain_interval_s=0.05, max_backoff_s=0.1)
    writer.start()
    try:
        graph.down = True
        for i in range(12):
            writer.submit([await committed(repo, i)])
        await asyncio.sleep(0.3)  # every attempt fails: the work stays in the outbox
        assert await repo.outbox_size() >= 12
        graph.down = False
        backlog_left = 12
        for i in range(12, 200):  # a steady stream of new work, faster than the drain interval
            writer.submit([await committed(repo, i)])
            await asyncio.sleep(0.01)
            backlog_left = await repo.outbox_size()
            if backlog_left <= 2:  # at most what was just submitted is still pending
                break
        assert backlog_left <= 2, f"{backlog_left} outbox rows still waiting while new work streamed in"
    finally:
        await writer.stop()


async def test_work_submitted_just_before_stop_does_not_keep_the_writer_running() -> None:
    # the item that wakes the idle writer can arrive in the same loop turn as the shutdown: the
    # stop must still end it (with wait_for on Python 3.11 it went on and shutdown hung forever)
    repo, graph = InMemoryRepository(), InMemoryGraph()
    writer = GraphWriter(graph, repo, max_batch=4, drain_interval_s=30, max_backoff_s=30)
    writer.start()
    await asyncio.sleep(0.1)  # the empty outbox is read: now idle until work comes
    writer.submit([await committed(repo, 0)])
    async with asyncio.timeout(5):
        await writer.stop()


async def test_a_writer_started_before_its_graph_answers_drains_the_backlog_as_soon_as_it_does() -> None:
    repo, graph = InMemoryRepository(), InMemoryGraph()
    for i in range(3):  # left in the outbox from before this start
        await committed(repo, i)
    graph.down = True  # the graph server is still starting
    up: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    writer = GraphWriter(graph, repo, max_batch=4, drain_interval_s=30, max_backoff_s=30)
    writer.start(after=up)
    try:
        await asyncio.sleep(0.1)
        assert writer.failures == 0 and await repo.outbox_size() == 3  # not tried against a graph still starting
        graph.down = False
        up.set_result(None)
        async with asyncio.timeout(5):  # at once, not after a back-off
            while await repo.outbox_size():
                await asyncio.sleep(0.01)
    finally:
        await writer.stop()
