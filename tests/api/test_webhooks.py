"""Webhooks through GraphQL: a memory added reaches the receiver signed with the secret given at
creation (then with the rotated one), deactivation stops deliveries, the delivery log and the
metrics show the outcome; private targets are refused by default; a user's credential manages
only webhooks in its own scope."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp.test_utils import TestClient

from app.settings import Settings
from app.web import create_app
from tests.api.authkit import Caller, error_code, make_key, secure_settings
from tests.api.ops import ADD, GQL, add_input
from tests.fixtures.webhook_receiver import Receiver, until, verify

ClientFactory = Callable[..., Awaitable[TestClient]]
FAST = {"allow_private_targets": True, "poll_s": 0.05, "backoff_s": 0.05}

HOOK = "id name url eventTypes userId agentId runId active"
CREATE = f"mutation($input: CreateWebhookInput!) {{ createWebhook(input: $input) {{ secret webhook {{ {HOOK} }} }} }}"
UPDATE = f"mutation($id: ID!, $input: UpdateWebhookInput!) {{ updateWebhook(id: $id, input: $input) {{ {HOOK} }} }}"
ROTATE = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { id } } }"
DELETE = "mutation($id: ID!) { deleteWebhook(id: $id) { id } }"
LIST = f"{{ webhooks {{ {HOOK} }} }}"
LOG = """query($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(webhookId: $id, status: $status) { id eventId kind status attempts lastStatusCode lastError body }
}"""


async def test_a_webhook_gets_signed_events_until_it_is_switched_off(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: Receiver,
) -> None:
    settings = Settings(data_dir=tmp_path, graph={"enabled": False}, auth={"mode": "development"}, webhooks=FAST)
    gql = GQL(await aiohttp_client(create_app(settings)))
    created = (await gql.data(CREATE, input={"name": "crm", "url": receiver.url, "eventTypes": ["ADD"]}))["createWebhook"]
    hook = created["webhook"]
    assert hook["eventTypes"] == ["ADD"] and hook["userId"] is None and hook["active"]
    await gql.data(ADD, input=add_input("I like tea"))
    await until(lambda: receiver.received)
    assert verify(created["secret"], receiver.received[0].headers, receiver.received[0].body)
    assert json.loads(receiver.received[0].body)["memory"]["memory"] == "I like tea"

    async def logged(status: str) -> list[dict[str, Any]]:
        return list((await gql.data(LOG, id=hook["id"], status=status))["webhookDeliveries"])

    await until(lambda: logged("DELIVERED"))
    (done,) = await logged("DELIVERED")
    assert (done["kind"], done["attempts"], done["lastStatusCode"]) == ("ADD", 1, 200)

    rotated = (await gql.data(ROTATE, id=hook["id"]))["rotateWebhookSecret"]["secret"]
    assert rotated != created["secret"]
    await gql.data(ADD, input=add_input("I like coffee"))
    await until(lambda: len(receiver.received) == 2)
    assert verify(rotated, receiver.received[1].headers, receiver.received[1].body)
    assert not verify(created["secret"], receiver.received[1].headers, receiver.received[1].body)

    off = (await gql.data(UPDATE, id=hook["id"], input={"active": False, "name": "crm (paused)"}))["updateWebhook"]
    assert (off["active"], off["name"], off["url"]) == (False, "crm (paused)", receiver.url)
    await gql.data(ADD, input=add_input("I like juice"))
    assert len((await gql.data(LOG, id=hook["id"]))["webhookDeliveries"]) == 2  # nothing enqueued while off

    metrics = await (await gql.client.get("/metrics")).text()
    assert 'agentmem_webhook_deliveries_total{outcome="delivered"} 2.0' in metrics
    assert "agentmem_webhook_queue_depth 0.0" in metrics

    await gql.data(DELETE, id=hook["id"])
    assert (await gql.data(LIST))["webhooks"] == []
    gone = await gql(LOG, id=hook["id"])
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_private_targets_and_unknown_event_types_are_refused(gql: GQL) -> None:
    private = await gql(CREATE, input={"name": "x", "url": "http://127.0.0.1:8080/hook", "eventTypes": ["ADD"]})
    assert private["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "allow_private_targets" in private["errors"][0]["message"]
    scheme = await gql(CREATE, input={"name": "x", "url": "file:///etc/passwd", "eventTypes": ["ADD"]})
    assert scheme["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    odd = await gql(CREATE, input={"name": "x", "url": "http://127.0.0.1/", "eventTypes": ["FLY"]})
    assert "FLY" in odd["errors"][0]["message"]


async def test_a_user_credential_manages_only_webhooks_in_its_own_scope(
    aiohttp_client: ClientFactory, tmp_path: Path,
) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path, webhooks=FAST)))
    admin = Caller(client, await make_key(client.app, "admin"))
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    bob = Caller(client, await make_key(client.app, "user", user_id="bob"))
    url = "http://127.0.0.1:9/hook"
    theirs = await alice.post(CREATE, input={"name": "b", "url": url, "eventTypes": ["ADD"], "scope": {"userId": "bob"}})
    assert error_code(theirs[1]) == "FORBIDDEN"
    mine = (await alice.data(CREATE, input={"name": "a", "url": url, "eventTypes": ["ADD"]}))["createWebhook"]["webhook"]
    assert mine["userId"] == "alice"
    project = (await admin.data(CREATE, input={"name": "p", "url": url, "eventTypes": ["DELETE"]}))["createWebhook"]
    assert [h["id"] for h in (await alice.data(LIST))["webhooks"]] == [mine["id"]]
    assert (await bob.data(LIST))["webhooks"] == []
    assert {h["id"] for h in (await admin.data(LIST))["webhooks"]} == {mine["id"], project["webhook"]["id"]}
    for other in (bob.post(DELETE, id=mine["id"]), alice.post(ROTATE, id=project["webhook"]["id"]),
                  bob.post(LOG, id=mine["id"])):
        assert error_code((await other)[1]) == "NOT_FOUND"
