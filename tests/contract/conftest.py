"""Each port's contract runs against the in-memory fake and the real adapter(s), so the fakes
used by the unit tests cannot drift from what production does."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.ports import ChangeSet
from memory.text_index import TextIndex, row_of
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository
from vector.hnsw import HnswIndex


class TextIndexedRepository:
    """The fake repository whose word and mention reads come from the in-memory TextIndex, fed
    from each commit as the service's committer feeds it: holds the index to the same contract."""

    def __init__(self) -> None:
        self.inner = InMemoryRepository()
        self.text = TextIndex()
        self.lexical_search = self.text.lexical_search
        self.mention_counts = self.text.mention_counts
        self.mentioning = self.text.mentioning
        self.mentions = self.text.mentions

    async def commit(self, change: ChangeSet) -> int:
        seq = await self.inner.commit(change)
        for id in change.deletes:
            self.text.drop(id)
        for write in change.writes:
            self.text.put(row_of(write.record))
        return seq

    async def reset(self) -> None:
        await self.inner.reset()
        self.text.clear()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture(params=["fake", "sqlite", "pg"])
def repository_url(request: pytest.FixtureRequest) -> str | None:
    # a sync fixture: pytest-asyncio cannot resolve async fixtures from inside an async one
    return None if request.param == "fake" else str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["fake", "sqlite", "pg", "text-index"])
def repository_backend(request: pytest.FixtureRequest) -> str:
    """The repository's own contract also holds the in-memory text index to it."""
    if request.param in ("fake", "text-index"):
        return request.param
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def any_repository(repository_backend: str) -> AsyncIterator[object]:
    if repository_backend == "fake":
        yield InMemoryRepository()
        return
    if repository_backend == "text-index":
        yield TextIndexedRepository()
        return
    url = repository_backend
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
