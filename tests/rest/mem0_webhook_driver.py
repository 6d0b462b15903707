"""Drives mem0's `MemoryClient` webhook methods against a live AgentMem:
`python -m tests.rest.mem0_webhook_driver <url> <api key> <receiver url>`. Run by
test_mem0_webhooks.py in a subprocess, with the same network guard and report as mem0_driver."""
from __future__ import annotations

import sys
from typing import Any

from tests.rest.mem0_driver import attempt, run


def drive(url: str, key: str, receiver: str) -> dict[str, Any]:
    from mem0 import MemoryClient

    client = MemoryClient(api_key=key, host=url)
    project = client.project_id or "default"
    out: dict[str, Any] = {"project": project}
    out["create"] = client.create_webhook(url=receiver, name="crm", project_id=project, event_types=["memory_add"])
    spare = client.create_webhook(url=receiver, name="spare", project_id=project, event_types=["memory_delete"])
    out["update"] = client.update_webhook(out["create"]["webhook_id"], name="crm sync",
                                          event_types=["memory_add", "memory_update"])
    out["delete"] = client.delete_webhook(spare["webhook_id"])
    out["delete_again"] = attempt(lambda: client.delete_webhook(spare["webhook_id"]))
    out["get"] = client.get_webhooks(project)
    out["bad_event"] = attempt(lambda: client.create_webhook(url=receiver, name="x", project_id=project,
                                                             event_types=["memory_fly"]))
    out["add"] = client.add("I like green tea", user_id="alice", infer=False)
    return out


if __name__ == "__main__":
    raise SystemExit(run(drive, sys.argv[1:]))
