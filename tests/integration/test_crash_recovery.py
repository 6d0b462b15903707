"""Kill a writer mid-ingest with SIGKILL; after restart SQL, index and graph agree and every
acknowledged write is there."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from graph.embedded import EmbeddedArcadeDB
from memory.models import Scope
from tests.integration.crash_writer import build

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


async def _read_acks(proc: asyncio.subprocess.Process, wanted: int) -> list[str]:
    acks: list[str] = []
    assert proc.stdout is not None
    while len(acks) < wanted:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise AssertionError("the writer died early")
        acks.append(line.decode().strip())
    return acks


@pytest.mark.parametrize("kill_after", [15, 60])
async def test_sigkill_mid_ingest_loses_nothing_acknowledged(
    tmp_path: Path, sqlite_url: str, bolt_server: EmbeddedArcadeDB, kill_after: int
) -> None:
    user = f"crash-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.crash_writer", str(tmp_path), sqlite_url, bolt_server.uri,
        bolt_server.password, bolt_server.database, user,
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        acked = await _read_acks(proc, kill_after)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    service = build(tmp_path, sqlite_url, bolt_server.uri, bolt_server.password, bolt_server.database, 60)
    await service.start()
    try:
        scope = Scope(user_id=user)
        sql_ids = set(await service._repo.ids_in_scope(scope, include_invalidated=True))
        assert set(acked) <= sql_ids, "an acknowledged add is missing from SQL"
        assert await service._index.ids() == sql_ids, "index and SQL disagree after restart"
        # the full-text index changes in the row's transaction: it finds exactly the rows SQL has
        lexical = await service._repo.lexical_search(scope, ["works"], len(sql_ids) + 10, include_invalidated=True)
        assert {id for id, _ in lexical} == sql_ids, "full-text index and SQL disagree after SIGKILL"
        for _ in range(100):  # the outbox drains what the graph had not applied
            if await service._repo.outbox_size() == 0:
                break
            await asyncio.sleep(0.1)
        assert await service._repo.outbox_size() == 0
        by_memory = await service.relations_by_memory(sorted(sql_ids))
        counts = {id: len(by_memory.get(id, [])) for id in sql_ids}
        assert set(counts.values()) == {1}, f"graph lacks (or duplicates) a relation: {sorted(counts.values())}"
        hits = await service.search("works at Company3", scope, limit=1)
        assert hits.hits and hits.hits[0].record.text == "Person3 works at Company3."
    finally:
        await service.stop()
        await service._graph.delete_scope(Scope(user_id=user))
        await service._graph.close()
        await service._repo.close()
