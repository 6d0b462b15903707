from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from app.settings import GraphSettings, Settings
from app.web import create_app
from tests.api.ops import GQL

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Embedded defaults under tmp_path (SQLite, hnswlib, the local ONNX embedder), graph
    disabled; tests/api/test_graph.py runs with the embedded graph server. Development mode
    (no authentication): these tests are about the API's behaviour; tests/api/test_auth*.py
    and test_isolation.py run with real credentials."""
    return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"})


@pytest.fixture
async def client(aiohttp_client: ClientFactory, service_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(service_settings))


@pytest.fixture
def gql(client: TestClient) -> GQL:
    return GQL(client)
