"""mem0's official `MemoryClient.project` on a live AgentMem: an admin sets the project's custom
categories and instructions, reads them back, and later adds without their own set are filed
under the project's (an add's own set still wins); bad values are 400s and a user key gets a
403 (with the JSON error body, checked over plain REST in test_project.py)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from app.settings import GraphSettings, Settings
from tests.rest.live import live_server
from tests.rest.mem0_project_driver import SET
from tests.rest.test_mem0_client import run

if importlib.util.find_spec("mem0") is None:
    pytest.skip("pip install mem0ai (the test extra)", allow_module_level=True)


def test_memory_client_sets_and_reads_the_project_settings(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"data_dir": str(data), "graph": {"enabled": False}}))
    keys = [run(["-m", "app", "create-api-key", "--name", "k", "--config", str(config), *args], isolated_env)
            for args in (["--role", "admin"], ["--role", "user", "--user-id", "bob"])]
    assert all(k.returncode == 0 for k in keys), [k.stderr for k in keys]
    with live_server(Settings(data_dir=data, graph=GraphSettings(enabled=False))) as server:
        driven = run(["-m", "tests.rest.mem0_project_driver", server.url, *(k.stdout.strip() for k in keys)],
                     isolated_env)
    assert driven.returncode == 0, driven.stderr
    report = json.loads(driven.stdout.strip().splitlines()[-1])
    assert report["blocked"] == [], report["blocked"]
    assert "ok" in report["calls"], report["calls"]
    out = report["calls"]["ok"]
    assert out["before"]["custom_categories"] is None and out["before"]["project_id"] == "default"
    assert out["update"]["custom_categories"] == SET and out["update"]["message"]
    assert out["get"]["custom_categories"] == SET and out["get"]["custom_instructions"] == "Only remember orders."
    assert out["filed"] == ["billing"]
    assert out["own_set"] == ["money"]
    assert out["bad_name"]["error"] == "ValidationError" and "category name" in out["bad_name"]["message"]
    assert out["decay"]["error"] == "ValidationError" and "decay is not served" in out["decay"]["message"]
    for refused in (out["user_get"], out["user_update"]):
        assert "error" in refused and "only an admin" in refused["message"], refused
    assert out["cleared"]["custom_categories"] is None and out["cleared"]["custom_instructions"] is None
