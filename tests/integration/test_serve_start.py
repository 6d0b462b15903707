"""serve's start (app/bootstrap.service_context) with the embedded graph server: the vector index
loads while the server's JVM starts, and the service is ready only once both are up."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.bootstrap import service_context
from app.ops.runtime import STEPS, Runtime
from app.settings import GraphSettings, Settings
from memory.errors import StoreUnavailable
from memory.models import Message, Scope
from tests.integration.test_embedded_arcadedb import wait_until_gone

ALICE = Scope(user_id="alice")


async def test_serve_starts_with_the_embedded_graph_up_and_every_step_done(tmp_path: Path) -> None:
    runtime = Runtime()
    async with service_context(Settings(data_dir=tmp_path), runtime) as service:
        assert runtime.steps == dict.fromkeys(STEPS, "done") and runtime.started
        await service.add([Message("user", "Alice works at Acme.")], ALICE)
        assert "acme" in {e.name for e in (await service.neighbourhood(ALICE, "Alice", 1)).entities}
    assert wait_until_gone(tmp_path) == []


async def test_an_embedded_graph_that_never_answers_stops_the_start_after_the_index_loaded(tmp_path: Path) -> None:
    runtime = Runtime()
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(embedded_start_timeout_s=0.3))
    with pytest.raises(StoreUnavailable, match="no answer within"):
        async with service_context(settings, runtime):
            pytest.fail("served without the graph")
    assert runtime.steps["vector_index"] == "done"  # loaded while the JVM started
    assert runtime.steps["graph"] == "pending" and not runtime.started
    assert wait_until_gone(tmp_path) == []
    # the service that had started meanwhile was stopped: none of its background tasks is left
    assert [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
