"""Each port's contract runs against the in-memory fake and the real adapter(s), so the fakes
used by the unit tests cannot drift from what production does."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository
from vector.hnsw import HnswIndex


@pytest.fixture(params=["fake", "sqlite", "pg"])
def repository_url(request: pytest.FixtureRequest) -> str | None:
    # a sync fixture: pytest-asyncio cannot resolve async fixtures from inside an async one
    return None if request.param == "fake" else str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def any_repository(repository_url: str | None) -> AsyncIterator[object]:
    if repository_url is None:
        yield InMemoryRepository()
        return
    url = repository_url
    repo = SqlMemoryRepository(create_engine(url))
    try:
        yield repo
    finally:
        await repo.close()


@pytest.fixture(params=["fake", "hnsw"])
def any_index(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    return BruteForceIndex(dimension=16) if request.param == "fake" else HnswIndex(tmp_path / "idx", dimension=16)


@pytest.fixture(params=["fake", "bolt"])
def any_graph(request: pytest.FixtureRequest) -> object:
    return InMemoryGraph() if request.param == "fake" else request.getfixturevalue("graph_store")
