"""Drives mem0's official `MemoryClient` against a live AgentMem: `python -m tests.rest.mem0_driver
<url> <api key>`. Run by test_mem0_client.py in a subprocess, so that mem0 reads its environment
switches (MEM0_TELEMETRY, MEM0_DIR) at import, and so that the network guard below sees every
connection the client library makes, including its background threads.

Prints one JSON object: what each call returned (or raised) and every attempt to reach a host
other than this machine (each one is also refused)."""
from __future__ import annotations

import atexit
import json
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}
blocked: list[str] = []


def _host(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


def guard(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: refuses (and records) name lookups and connections to any other host."""
    if event == "socket.getaddrinfo":
        host = _host(args[0])
        if host is not None and host not in LOCAL_HOSTS:
            blocked.append(f"getaddrinfo {host}")
            raise socket.gaierror(f"blocked by the test: {host} is not this machine")
    elif event == "socket.connect":
        address = args[1]
        host = _host(address[0]) if isinstance(address, tuple) else None
        if host is not None and host not in LOCAL_HOSTS:
            blocked.append(f"connect {host}")
            raise ConnectionRefusedError(f"blocked by the test: {host} is not this machine")


def attempt(call: Callable[[], Any]) -> Any:
    try:
        return {"ok": call()}
    except Exception as exc:  # the test asserts on which error mem0's client raised
        return {"error": type(exc).__name__, "message": str(exc)}


def finished(get: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Polls an export until it is done (the job runs in the server's background)."""
    for _ in range(200):
        job = get()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.05)
    return job


def drive(url: str, key: str) -> dict[str, Any]:
    from mem0 import MemoryClient

    out: dict[str, Any] = {"bad_key": attempt(lambda: MemoryClient(api_key="am_not-a-key", host=url) and None)}
    client = MemoryClient(api_key=key, host=url)  # GET /v1/ping/ with Authorization: Token <key>
    out["add"] = client.add([{"role": "user", "content": "I love pizza with olives"}], user_id="alice",
                            infer=False, metadata={"topic": "food"})
    out["add_v3"] = client.add("I live in Paris", filters={"user_id": "alice"}, infer=False)
    out["add_bob"] = client.add("I play the guitar", user_id="bob", agent_id="tutor", infer=False)
    first = out["add"]["results"][0]["id"]
    out["export_created"] = client.create_memory_export(
        schema=json.dumps({"properties": {"memory": {}, "topic": {}}}), user_id="alice")
    out["export"] = finished(lambda: client.get_memory_export(memory_export_id=out["export_created"]["id"]))
    out["export_latest"] = client.get_memory_export(user_id="alice")
    out["add_image"] = attempt(lambda: client.add(
        {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}},
        user_id="alice"))
    out["get"] = client.get(first)
    out["get_all"] = client.get_all(filters={"AND": [{"user_id": "alice"}]})
    out["get_all_page"] = client.get_all(filters={"user_id": "alice"}, page=1, page_size=1)
    out["search"] = client.search("what food do I like?", filters={"AND": [{"user_id": "alice"}]}, top_k=1)
    out["search_filtered"] = client.search("where do I live?", filters={"user_id": "alice", "topic": "food"})
    out["search_refused"] = attempt(lambda: client.search("x", filters={"app_id": "shop"}))
    out["update"] = client.update(first, text="I love sushi", metadata={"topic": "food", "changed": True})
    out["history"] = client.history(first)
    out["feedback"] = client.feedback(first, "negative", feedback_reason="I prefer sushi now")
    out["feedback_cleared"] = client.feedback(first)  # feedback=None clears it
    out["feedback_again"] = client.feedback(first, "VERY_NEGATIVE")
    out["feedback_unknown"] = attempt(lambda: client.feedback("no-such-memory", "POSITIVE"))
    out["add_timestamp"] = client.add("I visited Oslo", user_id="dora", infer=False, timestamp=1683554160)
    out["get_timestamp"] = client.get(out["add_timestamp"]["results"][0]["id"])
    out["add_future"] = attempt(lambda: client.add("I will win", user_id="dora", infer=False, timestamp=4102444800))
    out["add_excludes"] = attempt(lambda: client.add("I like tea", user_id="dora", excludes="food"))
    out["add_includes"] = attempt(lambda: client.add("I like tea", user_id="dora", includes="food"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    expiring = client.add("My hotel room is 512", user_id="dora", infer=False, expiration_date=tomorrow)
    out["add_expiring"] = {"tomorrow": tomorrow, **expiring}
    out["get_expiring"] = client.get(expiring["results"][0]["id"])
    out["add_expired"] = attempt(lambda: client.add("x y z", user_id="dora", infer=False, expiration_date="2020-01-01"))
    out["update_expiry_cleared"] = client.update(expiring["results"][0]["id"], expiration_date=None)
    custom = [{"billing": "invoices, payments, refunds and prices"}, {"shipping": "parcels, delivery and couriers"}]
    billed = client.add("The refund for invoice 42 was paid", user_id="dora", infer=False, custom_categories=custom)
    out["get_custom"] = client.get(billed["results"][0]["id"])
    out["search_category"] = client.search("refund", filters={"AND": [{"user_id": "dora"},
                                                                     {"categories": {"in": ["billing"]}}]})
    out["get_all_category"] = client.get_all(filters={"AND": [{"user_id": "dora"},
                                                             {"categories": {"contains": "billing"}}]})
    client.delete_all(user_id="dora")
    out["users"] = client.users()
    second = out["add_v3"]["results"][0]["id"]
    frozen = client.add("My blood type is O+", user_id="alice", infer=False, immutable=True)["results"][0]["id"]
    out["get_immutable"] = client.get(frozen)
    out["update_immutable"] = attempt(lambda: client.update(frozen, text="My blood type is O-"))
    out["batch_refused"] = attempt(lambda: client.batch_update([{"memory_id": second, "text": "I live in Rome"},
                                                               {"memory_id": frozen, "text": "O-"}]))
    out["get_unbatched"] = client.get(second)
    out["batch_update"] = client.batch_update([{"memory_id": second, "text": "I live in Rome"}])
    out["get_batched"] = client.get(second)
    out["batch_delete"] = client.batch_delete([{"memory_id": frozen}])  # immutable: deleting is allowed
    out["get_batch_deleted"] = attempt(lambda: client.get(frozen))
    out["delete"] = client.delete(first)
    out["get_deleted"] = attempt(lambda: client.get(first))
    out["delete_all"] = client.delete_all(user_id="alice")
    out["delete_all_filters"] = client.delete_all(filters={"user_id": "bob"})
    out["get_all_after"] = client.get_all(filters={"OR": [{"user_id": "alice"}, {"user_id": "bob"}]})
    client.add("I run on Sundays", user_id="carol", run_id="week-1", infer=False)
    out["reset"] = client.reset()  # users() then DELETE /v2/entities/{type}/{name}/ for each
    out["users_after_reset"] = client.users()
    return out


def run(drive: Callable[..., dict[str, Any]], argv: list[str]) -> int:
    """The body of every mem0 driver: the network guard first, `drive(*argv)`, and one JSON
    report on stdout (what the calls returned or raised, and every connection refused)."""
    sys.addaudithook(guard)  # before mem0 (and its telemetry) is imported
    result: dict[str, Any] = {"blocked": blocked}
    # atexit runs last-registered first: registered before mem0 is imported, the report is
    # printed after mem0's own exit handlers (telemetry flushes) had their chance to connect
    atexit.register(lambda: print(json.dumps(result, default=str), flush=True))
    result["calls"] = attempt(lambda: drive(*argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(drive, sys.argv[1:]))
