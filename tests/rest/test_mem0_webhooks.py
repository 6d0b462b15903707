"""mem0's official `MemoryClient` manages webhooks on a live AgentMem (create, get, update,
delete, and the error for an unknown one), and a memory the client adds reaches the registered
receiver, signed with the secret create_webhook returned; the delivery log and secret rotation
answer on their REST paths."""
from __future__ import annotations

import importlib.util
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.settings import GraphSettings, Settings, WebhookSettings
from tests.fixtures.webhook_receiver import Receiver, verify
from tests.rest.live import live_server
from tests.rest.test_mem0_client import run

if importlib.util.find_spec("mem0") is None:
    pytest.skip("pip install mem0ai (the test extra)", allow_module_level=True)


def call(base: str, method: str, path: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=30) as resp:
        return json.load(resp)


def poll(read: Callable[[], Any], timeout: float = 15) -> Any:
    """`read()` once it is truthy (the server's worker records an outcome on its own time)."""
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, "nothing came in time"
        time.sleep(0.02)
    return found


def test_memory_client_manages_webhooks_and_its_receiver_gets_signed_events(
    tmp_path: Path, isolated_env: dict[str, str],
) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False), auth={"mode": "development"},
                        webhooks=WebhookSettings(allow_private_targets=True, poll_s=0.05, backoff_s=0.05))
    receiver = Receiver()
    with live_server(settings) as server:
        server.run(receiver.start())
        try:
            driven = run(["-m", "tests.rest.mem0_webhook_driver", server.url, "any-key", receiver.url], isolated_env)
            assert driven.returncode == 0, driven.stderr
            report = json.loads(driven.stdout.strip().splitlines()[-1])
            assert report["blocked"] == [], report["blocked"]
            assert "ok" in report["calls"], report["calls"]
            out = report["calls"]["ok"]
            hook_id = out["create"]["webhook_id"]
            log = poll(lambda: [d for d in call(server.url, "GET", f"/api/v1/webhooks/{hook_id}/deliveries/")["results"]
                                if d["status"] == "delivered"])
            rotated = call(server.url, "POST", f"/api/v1/webhooks/{hook_id}/rotate-secret/")
        finally:
            server.run(receiver.stop())
    created = out["create"]
    assert created["name"] == "crm" and created["event_types"] == ["memory_add"] and created["is_active"]
    assert created["secret"].startswith("whsec_") and created["project"] == out["project"]
    assert out["update"]["name"] == "crm sync" and out["update"]["event_types"] == ["memory_add", "memory_update"]
    assert "secret" not in out["update"]
    assert out["delete"] == {"message": "Webhook deleted successfully"}
    assert out["delete_again"]["error"] == "MemoryNotFoundError"  # mem0's client names every 404 so
    assert [h["webhook_id"] for h in out["get"]] == [created["webhook_id"]]
    assert all("secret" not in h for h in out["get"])
    assert out["bad_event"]["error"] == "ValidationError" and "memory_fly" in out["bad_event"]["message"]

    (got,) = receiver.received
    assert verify(created["secret"], got.headers, got.body)
    body = json.loads(got.body)
    assert body["event"] == "memory_add" and body["memory"]["memory"] == "I like green tea"
    assert body["memory"]["id"] == out["add"]["results"][0]["id"]
    (delivered,) = log
    assert (delivered["event"], delivered["attempts"], delivered["last_status_code"]) == ("memory_add", 1, 200)
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
