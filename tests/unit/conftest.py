from __future__ import annotations

from typing import AsyncIterator

import pytest

from memory.service import MemoryService, ServiceOptions
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.graph import InMemoryGraph
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository


@pytest.fixture
def repo() -> InMemoryRepository:
    return InMemoryRepository()


@pytest.fixture
def index() -> BruteForceIndex:
    return BruteForceIndex()


@pytest.fixture
def graph() -> InMemoryGraph:
    return InMemoryGraph()


@pytest.fixture
async def service(repo: InMemoryRepository, index: BruteForceIndex, graph: InMemoryGraph) -> AsyncIterator[MemoryService]:
    svc = MemoryService(
        repo, index, HashingEmbedder(), graph=graph,
        options=ServiceOptions(dedup_threshold=0.95, graph_write_timeout_s=0.5),
    )
    await svc.start()
    yield svc
    await svc.stop()
