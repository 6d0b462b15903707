"""Credentials over HTTP with authentication enforced: API keys in every header form, the
identity provider's JWTs (and the forgeries that must fail), revocation and rotation, and the
admin-only key management over GraphQL."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from app.auth import KEY_MANAGER_KEY
from app.auth.keys import new_key
from app.web import create_app
from memory.access import Role
from memory.credentials import ApiKeyRecord
from memory.models import utcnow
from tests.api.authkit import (
    IDP_AUDIENCE,
    IDP_ISSUER,
    IDP_SECRET,
    Caller,
    error_code,
    hs256_by_hand,
    idp_token,
    make_key,
    rsa_keys,
    secure_settings,
    unsigned_token,
)

ClientFactory = Callable[..., Awaitable[TestClient]]
WHOAMI = "{ memories(first: 1) { nodes { id } } }"
KEYS = "{ apiKeys(includeRevoked: true) { id name role userId agentId active revokedAt createdBy } }"
CREATE = """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name role userId active } } }"""


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    return await aiohttp_client(create_app(secure_settings(tmp_path)))


@pytest.fixture
async def admin(client: TestClient) -> Caller:
    return Caller(client, await make_key(client.app, "admin", "root"))


async def refused(caller: Caller, document: str = WHOAMI) -> dict[str, Any]:
    status, body = await caller.post(document)
    assert status == 401, body
    assert error_code(body) == "UNAUTHENTICATED"
    return body


async def test_no_credential_is_401_with_www_authenticate(client: TestClient) -> None:
    resp = await client.post("/graphql", json={"query": WHOAMI})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_code(await resp.json()) == "UNAUTHENTICATED"


@pytest.mark.parametrize("form", ["bearer", "token", "x-api-key"])
async def test_an_api_key_works_in_every_header_form(client: TestClient, form: str) -> None:
    key = await make_key(client.app, "user", user_id="alice")
    assert (await Caller(client, key, form).data(WHOAMI))["memories"]["nodes"] == []


@pytest.mark.parametrize("mangle", [
    lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret
    lambda k: "amk_" + new_key()[0] + k[len("amk_") + 16:],  # unknown id, right shape
    lambda k: k[:20],  # truncated
    lambda k: "amk_not-a-key",
    lambda k: k + "x",
    lambda k: "garbage",
])
async def test_forged_api_keys_are_refused(client: TestClient, mangle: Callable[[str], str]) -> None:
    key = await make_key(client.app, "admin")
    await refused(Caller(client, mangle(key)))


async def test_an_unsupported_authorization_scheme_is_refused(client: TestClient) -> None:
    key = await make_key(client.app, "admin")
    resp = await client.post("/graphql", json={"query": WHOAMI}, headers={"Authorization": f"Basic {key}"})
    assert resp.status == 401


async def test_revocation_and_rotation_take_effect_on_the_next_request(client: TestClient, admin: Caller) -> None:
    created = (await admin.data(CREATE, input={"name": "app", "role": "USER", "userId": "alice"}))["createApiKey"]
    alice = Caller(client, created["key"])
    await alice.data(WHOAMI)

    rotated = (await admin.data("mutation($id: ID!) { rotateApiKey(id: $id) { key apiKey { id name userId } } }",
                                id=created["apiKey"]["id"]))["rotateApiKey"]
    assert rotated["apiKey"]["name"] == "app" and rotated["apiKey"]["userId"] == "alice"
    await refused(alice)
    alice = Caller(client, rotated["key"])
    await alice.data(WHOAMI)

    revoked = (await admin.data("mutation($id: ID!) { revokeApiKey(id: $id) { id active revokedAt } }",
                                id=rotated["apiKey"]["id"]))["revokeApiKey"]
    assert revoked["active"] is False and revoked["revokedAt"]
    await refused(alice)


async def test_an_expired_key_is_refused(client: TestClient) -> None:
    keys = client.app[KEY_MANAGER_KEY]
    id, text = new_key()
    past = utcnow() - timedelta(seconds=1)
    await keys.store.add_key(ApiKeyRecord(id=id, name="old", secret_hash=keys._hasher.hash(text), role=Role.ADMIN,
                                          user_id=None, agent_id=None, created_at=past - timedelta(days=1),
                                          expires_at=past))
    await refused(Caller(client, text))


async def test_keys_are_listed_without_secrets_and_shown_once(client: TestClient, admin: Caller) -> None:
    created = (await admin.data(CREATE, input={"name": "bot", "role": "AGENT", "agentId": "helper",
                                               "userId": "alice"}))["createApiKey"]
    secret = created["key"].rsplit("_", 1)[1]
    status, body = await admin.post(KEYS)
    text = str(body)
    assert status == 200 and secret not in text and "sha256" not in text
    listed = {k["name"]: k for k in body["data"]["apiKeys"]}
    assert listed["bot"]["role"] == "AGENT" and listed["bot"]["agentId"] == "helper"
    assert listed["bot"]["createdBy"].startswith("key:")


async def test_key_management_is_for_admins_only(client: TestClient, admin: Caller) -> None:
    victim = (await admin.data(CREATE, input={"name": "victim", "role": "ADMIN"}))["createApiKey"]["apiKey"]["id"]
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    for document, variables in [
        (KEYS, {}),
        (CREATE, {"input": {"name": "mine", "role": "ADMIN"}}),
        ("mutation($id: ID!) { rotateApiKey(id: $id) { key } }", {"id": victim}),
        ("mutation($id: ID!) { revokeApiKey(id: $id) { id } }", {"id": victim}),
    ]:
        body = await alice(document, **variables)
        assert error_code(body) == "FORBIDDEN", body
        assert body["data"] is None
    assert len((await admin.data(KEYS))["apiKeys"]) == 3  # root, victim, alice: nothing added


@pytest.mark.parametrize("binding", [
    {"role": "USER"}, {"role": "AGENT", "userId": "alice"}, {"role": "ADMIN", "userId": "alice"},
    {"role": "USER", "userId": "not valid!"}, {"role": "USER", "userId": "alice", "agentId": "x"}, {"role": "ADMIN", "name": ""},
])
async def test_keys_with_impossible_bindings_are_bad_input(admin: Caller, binding: dict[str, str]) -> None:
    body = await admin(CREATE, input={"name": "k", **binding})
    assert error_code(body) == "BAD_USER_INPUT", body


# -- the identity provider's tokens ---------------------------------------------------------

async def test_an_idp_token_maps_its_claims_to_a_principal(client: TestClient, admin: Caller) -> None:
    await admin.data('mutation { addMemories(input: {messages: [{role: "user", content: "bob fact"}], '
                     'scope: {userId: "bob"}, infer: false}) { storedRaw } }')
    alice = Caller(client, idp_token(sub="alice"))
    assert (await alice.data("{ memories { nodes { text } } }"))["memories"]["nodes"] == []
    assert error_code(await alice('{ memories(scope: {userId: "bob"}) { nodes { text } } }')) == "FORBIDDEN"
    boss = Caller(client, idp_token(sub="boss", role="admin"))
    assert [n["text"] for n in (await boss.data("{ memories { nodes { text } } }"))["memories"]["nodes"]] == ["bob fact"]


@pytest.mark.parametrize("token", [
    pytest.param(lambda: idp_token(lifetime=-120), id="expired"),
    pytest.param(lambda: idp_token(nbf=9_999_999_999), id="not-yet-valid"),
    pytest.param(lambda: idp_token(aud="someone-else"), id="wrong-audience"),
    pytest.param(lambda: idp_token(iss="https://evil.example/"), id="wrong-issuer"),
    pytest.param(lambda: idp_token(exp=None), id="no-expiry"),
    pytest.param(lambda: idp_token(aud=None), id="no-audience"),
    pytest.param(lambda: idp_token("another-secret-of-sufficient-length-0123456789"), id="forged-signature"),
    pytest.param(lambda: unsigned_token(), id="alg-none"),
    pytest.param(lambda: unsigned_token(iss="agentmem", aud="agentmem"), id="alg-none-our-issuer"),
    pytest.param(lambda: idp_token(role="superuser"), id="unknown-role"),
    pytest.param(lambda: idp_token(role="agent"), id="agent-without-agent-id"),
    pytest.param(lambda: idp_token(sub="not valid!"), id="unusable-user-id"),
    pytest.param(lambda: idp_token(IDP_SECRET, iss="agentmem", aud="agentmem", key_id="x", sub="key:x"),
                 id="our-issuer-signed-with-idp-secret"),
    pytest.param(lambda: idp_token()[:-4] + "AAAA", id="tampered-signature"),
    pytest.param(lambda: "a.b.c", id="malformed"),
])
async def test_bad_idp_tokens_are_refused(client: TestClient, token: Callable[[], str]) -> None:
    await refused(Caller(client, token()))


async def test_clock_skew_within_the_leeway_is_tolerated(client: TestClient) -> None:
    await Caller(client, idp_token(lifetime=-10)).data(WHOAMI)  # leeway 30 s


async def test_rs256_keys_accept_rs256_and_refuse_algorithm_confusion(aiohttp_client: ClientFactory,
                                                                     tmp_path: Path) -> None:
    private, public = rsa_keys()
    idp = {"secret": None, "public_key": public, "issuer": IDP_ISSUER, "audience": IDP_AUDIENCE}
    client = await aiohttp_client(create_app(secure_settings(tmp_path, auth={"idp": idp})))
    await Caller(client, idp_token(private, "RS256")).data(WHOAMI)
    # HS256 "signed" with the public key as the shared secret: the classic confusion attack
    await refused(Caller(client, hs256_by_hand(public.encode())))
    await refused(Caller(client, idp_token(IDP_SECRET, "HS256")))
    await refused(Caller(client, unsigned_token()))
    other, _ = rsa_keys()
    await refused(Caller(client, idp_token(other, "RS256")))


async def test_development_mode_warns_loudly(aiohttp_client: ClientFactory, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        client = await aiohttp_client(create_app(secure_settings(tmp_path, auth={"mode": "development"})))
    assert any("AUTHENTICATION IS OFF" in r.getMessage() for r in caplog.records)
    assert (await client.post("/graphql", json={"query": WHOAMI})).status == 200


async def test_graphiql_page_needs_no_credential_but_queries_do(client: TestClient) -> None:
    resp = await client.get("/graphql", headers={"Accept": "text/html"})
    assert resp.status in (200, 503)  # 503: assets not installed
    resp = await client.get("/graphql", params={"query": WHOAMI}, headers={"Accept": "text/html"})
    assert resp.status == 401


async def test_cors_answers_allowed_origins_only(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path, cors_origins=["https://app.example"])))
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    resp = await client.options("/graphql", headers=preflight)
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    resp = await client.post("/graphql", json={"query": WHOAMI}, headers={"Origin": "https://app.example"})
    assert resp.status == 401 and resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    resp = await client.options("/graphql", headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    # the REST routes update and delete: browsers must be allowed those methods too
    resp = await client.options("/v1/memories/some-id", headers={**preflight, "Access-Control-Request-Method": "DELETE"})
    assert resp.status == 204 and {"PUT", "DELETE"} <= set(resp.headers["Access-Control-Allow-Methods"].split(", "))
