from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from app.settings import GraphSettings, Settings
from app.web import create_app

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Embedded defaults under tmp_path (SQLite, hnswlib, the local ONNX embedder), graph
    disabled, development mode: these tests are about REST behaviour; test_isolation.py and
    test_mem0_client.py run with real API keys."""
    return Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"})


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """No proxies, mem0's telemetry off, and mem0's ~/.mem0 under tmp_path."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith(("MEM0_", "AGENTMEM_"))}
    env.update(MEM0_TELEMETRY="False", MEM0_DIR=str(tmp_path / "mem0"), HOME=str(tmp_path / "home"))
    return env


@pytest.fixture
async def client(aiohttp_client: ClientFactory, service_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(service_settings))


async def ok(resp: ClientResponse, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def error(resp: ClientResponse, status: int, code: str) -> str:
    """The REST error shape: {"detail": ..., "code": ...}; returns the detail."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["code"] == code, body
    return str(body["detail"])


async def remember(client: TestClient, text: str, user_id: str = "alice", **extra: Any) -> str:
    """Stores `text` as it is (infer: false) and returns the new memory's id."""
    body = await ok(await client.post("/v1/memories", json={"messages": text, "user_id": user_id, "infer": False,
                                                            **extra}))
    (item,) = body["results"]
    assert item["event"] == "ADD"
    return str(item["id"])
