"""Drives mem0's `MemoryClient.project` against a live AgentMem:
`python -m tests.rest.mem0_project_driver <url> <admin key> <user key>`. Run by
test_mem0_project.py in a subprocess, with the same network guard and report as mem0_driver."""
from __future__ import annotations

import sys
from typing import Any

from tests.rest.mem0_driver import attempt, run

SET = [{"billing": "invoices, payments, refunds and prices"}, {"shipping": "parcels, delivery and couriers"}]


def drive(url: str, admin_key: str, user_key: str) -> dict[str, Any]:
    from mem0 import MemoryClient

    client = MemoryClient(api_key=admin_key, host=url)
    out: dict[str, Any] = {"before": client.project.get(fields=["custom_categories"])}
    out["update"] = client.project.update(custom_categories=SET, custom_instructions="Only remember orders.")
    out["get"] = client.project.get(fields=["custom_categories", "custom_instructions"])
    added = client.add("The refund for invoice 42 was paid", user_id="alice", infer=False)
    out["filed"] = client.get(added["results"][0]["id"])["categories"]
    own = client.add("The refund for invoice 43 was paid", user_id="alice", infer=False,
                     custom_categories=[{"money": "refunds, invoices and payments"}])
    out["own_set"] = client.get(own["results"][0]["id"])["categories"]
    out["bad_name"] = attempt(lambda: client.project.update(custom_categories=[{"bad\nname": "x"}]))
    out["decay"] = attempt(lambda: client.project.update(decay=True))
    user = MemoryClient(api_key=user_key, host=url)
    out["user_get"] = attempt(lambda: user.project.get())
    out["user_update"] = attempt(lambda: user.project.update(custom_instructions="mine"))
    out["cleared"] = client.project.update(custom_categories=[], custom_instructions="")
    return out


if __name__ == "__main__":
    raise SystemExit(run(drive, sys.argv[1:]))
