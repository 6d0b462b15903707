from __future__ import annotations

import sys
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from app.settings import GraphSettings, Settings
from app.web import create_app
from tests.api.ops import GQL

if not (Path(__file__).resolve().parents[2] / "app" / "bootstrap.py").exists():  # pragma: no cover
    from tests.api import _standin

    sys.modules["app.bootstrap"] = _standin

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Embedded defaults under tmp_path, graph disabled (the graph tests turn it on)."""
    return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))


@pytest.fixture
async def client(aiohttp_client: ClientFactory, service_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(service_settings))


@pytest.fixture
def gql(client: TestClient) -> GQL:
    return GQL(client)
