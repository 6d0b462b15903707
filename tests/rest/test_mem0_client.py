"""mem0's official Python `MemoryClient` (the `mem0ai` package), pointed at a live AgentMem
with an API key made by `python -m app create-api-key`, works for add, get, get_all, search,
update, delete, delete_all, history, feedback, users, reset, batch_update, batch_delete,
create_memory_export / get_memory_export, an image message refused without a vision model,
immutable adds, expiration_date on add and update, custom_categories and category filters (and
add's timestamp; includes / excludes refused without an LLM); and it reaches no other host (its telemetry is
switched off through MEM0_TELEMETRY, and a network guard in the driver refuses and reports any
other connection)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.settings import GraphSettings, Settings
from tests.rest.live import live_server

# find_spec, not importorskip: importing mem0 here would start its telemetry in this process
if importlib.util.find_spec("mem0") is None:
    pytest.skip("pip install mem0ai (the test extra)", allow_module_level=True)
ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_memory_client_drives_every_operation(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"data_dir": str(data), "graph": {"enabled": False}}))
    made = run(["-m", "app", "create-api-key", "--role", "admin", "--name", "mem0 client", "--config", str(config)],
               isolated_env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()

    with live_server(Settings(data_dir=data, graph=GraphSettings(enabled=False))) as server:
        driven = run(["-m", "tests.rest.mem0_driver", server.url, key], isolated_env)
    assert driven.returncode == 0, driven.stderr
    report = json.loads(driven.stdout.strip().splitlines()[-1])
    assert report["blocked"] == [], f"the client tried to reach other hosts: {report['blocked']}"
    assert "ok" in report["calls"], report["calls"]
    check(report["calls"]["ok"])


def check(out: dict[str, Any]) -> None:
    assert out["bad_key"]["error"] == "ValueError", out["bad_key"]  # the client's answer to our 401
    first = out["add"]["results"][0]
    assert first["event"] == "ADD" and first["memory"] == "I love pizza with olives"
    assert out["add_v3"]["results"][0]["memory"] == "I live in Paris"
    assert out["get"]["id"] == first["id"] and out["get"]["metadata"]["topic"] == "food"
    assert out["export_created"]["status"] == "queued"
    assert out["export"]["status"] == "completed" and out["export"]["id"] == out["export_created"]["id"]
    assert out["export"]["results"] == [{"memory": "I love pizza with olives", "topic": "food"},
                                        {"memory": "I live in Paris", "topic": None}]
    assert out["export_latest"]["id"] == out["export"]["id"]
    # our 400 VISION_NOT_CONFIGURED, as mem0's client reads a 400
    assert out["add_image"]["error"] == "ValidationError" and "vision model" in out["add_image"]["message"]
    assert out["get"]["user_id"] == "alice"
    assert {m["memory"] for m in out["get_all"]["results"]} == {"I love pizza with olives", "I live in Paris"}
    page = out["get_all_page"]
    assert len(page["results"]) == 1 and page["next"] and page["previous"] is None
    (hit,) = out["search"]["results"]
    assert hit["memory"] == "I love pizza with olives" and isinstance(hit["score"], float)
    assert [m["memory"] for m in out["search_filtered"]["results"]] == ["I love pizza with olives"]
    assert out["search_refused"]["error"] == "ValidationError" and "app_id" in out["search_refused"]["message"]
    assert out["update"]["memory"] == "I love sushi" and out["update"]["metadata"]["changed"] is True
    assert [h["event"] for h in out["history"]] == ["ADD", "UPDATE"]
    assert out["history"][1]["old_memory"] == "I love pizza with olives"
    assert out["feedback"] == {"id": first["id"], "feedback": "NEGATIVE", "feedback_reason": "I prefer sushi now"}
    assert out["feedback_cleared"]["feedback"] is None and out["feedback_again"]["feedback"] == "VERY_NEGATIVE"
    assert out["feedback_unknown"]["error"] == "MemoryNotFoundError"
    assert out["get_timestamp"]["occurred_at"].startswith("2023-05-08T13:56:00")
    for refused, says in (("add_future", "out of range"), ("add_excludes", "needs an LLM"),
                          ("add_includes", "needs an LLM")):
        assert out[refused]["error"] == "ValidationError" and says in out[refused]["message"], out[refused]
    check_expiry_and_categories(out)
    users = {(e["type"], e["name"]): e["total_memories"] for e in out["users"]["results"]}
    assert users == {("user", "alice"): 2, ("user", "bob"): 1, ("agent", "tutor"): 1}
    assert out["get_immutable"]["immutable"] is True and out["get"]["immutable"] is False
    assert out["update_immutable"]["error"] == "ValidationError"  # our 409 IMMUTABLE, as mem0's client reads it
    assert "immutable" in out["update_immutable"]["message"]
    assert out["batch_refused"]["error"] == "ValidationError" and "immutable" in out["batch_refused"]["message"]
    assert out["get_unbatched"]["memory"] == "I live in Paris"  # all or nothing: the valid item did not change
    assert [m["memory"] for m in out["batch_update"]["results"]] == ["I live in Rome"]
    assert out["get_batched"]["memory"] == "I live in Rome"
    assert out["batch_delete"]["deleted"] == 1 and out["get_batch_deleted"]["error"] == "MemoryNotFoundError"
    assert out["delete"]["message"] and out["get_deleted"]["error"] == "MemoryNotFoundError"
    assert out["delete_all"]["deleted"] == 1 and out["delete_all_filters"]["deleted"] == 1
    assert out["get_all_after"]["results"] == []
    assert out["reset"]["message"] and out["users_after_reset"]["results"] == []


def check_expiry_and_categories(out: dict[str, Any]) -> None:
    tomorrow = out["add_expiring"]["tomorrow"]
    end = (datetime.fromisoformat(tomorrow) + timedelta(days=1)).replace(tzinfo=UTC)
    assert datetime.fromisoformat(out["get_expiring"]["expiration_date"].replace("Z", "+00:00")) == end
    assert out["add_expired"]["error"] == "ValidationError" and "already passed" in out["add_expired"]["message"]
    assert out["update_expiry_cleared"]["expiration_date"] is None
    assert out["get_custom"]["categories"] == ["billing"]
    assert [m["memory"] for m in out["search_category"]["results"]] == ["The refund for invoice 42 was paid"]
    assert [m["memory"] for m in out["get_all_category"]["results"]] == ["The refund for invoice 42 was paid"]
