"""Tokens from an OpenID Connect provider whose keys come from its JWKS: a local fake provider
(tests/fixtures/idp_fake.py) signs real tokens that the real service checks over GraphQL (HTTP
and WebSocket) and REST. Time in the key cache is moved by a fake clock, never waited for."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app.auth import JWKS_KEY
from app.web import create_app
from tests.api.authkit import Caller, error_code, hs256_by_hand, secure_settings, unsigned_token
from tests.fixtures.idp_fake import AUDIENCE, FakeIdp, new_key

ClientFactory = Callable[..., Awaitable[TestClient]]
WHOAMI = "{ memories(first: 1) { nodes { id } } }"
EVENTS = "subscription { memoryEvents { kind memoryId userId } }"
REFRESH_S = 10.0
TIMEOUT = 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(aiohttp_client: ClientFactory, tmp_path: Path, fake_idp: FakeIdp,
                clock: FakeClock) -> Callable[..., Awaitable[TestClient]]:
    async def make(**idp: Any) -> TestClient:
        cfg = {"issuer": fake_idp.issuer, "audience": AUDIENCE, "jwks_cache_min_s": 0,
               "jwks_refresh_interval_s": REFRESH_S, **idp}
        settings = secure_settings(tmp_path, auth={"idp": cfg, "websocket_recheck_s": 0.05}, health={"cache_s": 0})
        client = await aiohttp_client(create_app(settings))
        client.app[JWKS_KEY].clock = clock
        return client
    return make


@pytest.fixture
async def client(make_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_client()  # only the issuer: keys found through discovery


async def accepted(client: TestClient, token: str) -> None:
    await Caller(client, token).data(WHOAMI)


async def refused(client: TestClient, token: str, status: int = 401, code: str = "UNAUTHENTICATED") -> str:
    http, body = await Caller(client, token).post(WHOAMI)
    assert http == status, body
    assert error_code(body) == code
    return str(body["errors"][0]["message"])


async def ping(client: TestClient, token: str) -> dict[str, Any]:
    resp = await client.get("/v1/ping/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


# -- accepted, over every edge --------------------------------------------------------------

async def test_tokens_signed_with_discovered_rsa_and_ec_keys_work_over_graphql_and_rest(
        client: TestClient, fake_idp: FakeIdp) -> None:
    rsa, ec = fake_idp.keys
    for _ in range(3):
        await accepted(client, fake_idp.token(rsa))
        await accepted(client, fake_idp.token(ec))
    assert (await ping(client, fake_idp.token(rsa, sub="carol")))["principal"] == "idp:carol"
    # one discovery and one key set served all of them
    assert fake_idp.requests == {"discovery": 1, "jwks": 1}


async def test_a_websocket_authenticates_with_a_provider_token(client: TestClient, fake_idp: FakeIdp) -> None:
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {fake_idp.token()}"}})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": fake_idp.token(aud="other")}})
        assert await closed_with(ws) == 4403


async def test_a_configured_jwks_url_needs_no_discovery(make_client: Callable[..., Awaitable[TestClient]],
                                                         fake_idp: FakeIdp) -> None:
    client = await make_client(jwks_url=fake_idp.jwks_url)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests == {"jwks": 1}


# -- refused --------------------------------------------------------------------------------

@pytest.mark.parametrize(("make_token", "says"), [
    pytest.param(lambda idp: idp.token(aud="someone-else"), "audience", id="wrong-audience"),
    pytest.param(lambda idp: idp.token(iss="https://evil.example"), "issuer", id="wrong-issuer"),
    pytest.param(lambda idp: idp.token(lifetime=-120), "expired", id="expired"),
    pytest.param(lambda idp: idp.token(exp=None), "invalid", id="no-expiry"),
    pytest.param(lambda idp: idp.token(new_key("rsa-1")), "invalid", id="known-kid-other-key"),
    pytest.param(lambda idp: idp.token(new_key("stranger")), "'stranger'", id="unknown-kid"),
    pytest.param(lambda idp: idp.token(kid=None), "several", id="no-kid-several-keys"),
    # the JWK states RS256: the same RSA key signing PS256 is not accepted
    pytest.param(lambda idp: idp.token(alg="PS256"), "PS256", id="alg-differs-from-the-jwk"),
    pytest.param(lambda idp: idp.token(alg="RS256", kid="ec-1"), "RS256", id="rsa-alg-for-an-ec-key"),
    pytest.param(lambda idp: hs256_by_hand(b"any-secret", iss=idp.issuer, aud=AUDIENCE), "HS256",
                 id="hs256-never-with-jwks"),
    pytest.param(lambda idp: idp.token()[:-6] + "AAAAAA", "invalid", id="tampered-signature"),
])
async def test_bad_provider_tokens_are_refused_with_a_reason(client: TestClient, fake_idp: FakeIdp,
                                                             make_token: Callable[[FakeIdp], str], says: str) -> None:
    await accepted(client, fake_idp.token())  # the key set is warm
    assert says in await refused(client, make_token(fake_idp))


async def test_a_foreign_issuer_never_makes_us_fetch_keys(client: TestClient, fake_idp: FakeIdp) -> None:
    assert "issuer" in await refused(client, fake_idp.token(new_key("other"), iss="https://other.example"))
    assert fake_idp.requests == {}


async def test_unsigned_tokens_are_refused(client: TestClient, fake_idp: FakeIdp) -> None:
    assert "'none'" in await refused(client, unsigned_token(iss=fake_idp.issuer, aud=AUDIENCE))


async def test_rest_answers_401_json_when_no_key_matches(client: TestClient, fake_idp: FakeIdp) -> None:
    resp = await client.get("/v1/ping/", headers={"Authorization": f"Bearer {fake_idp.token(new_key('nope'))}"})
    assert resp.status == 401 and resp.content_type == "application/json"
    assert "nope" in await resp.text()


async def test_a_jwk_without_alg_accepts_its_whole_family(make_client: Callable[..., Awaitable[TestClient]],
                                                          fake_idp: FakeIdp) -> None:
    loose = fake_idp.add_key("rsa-loose", "RS256", publish_alg=False)
    client = await make_client()
    await accepted(client, fake_idp.token(loose, alg="PS256"))
    await accepted(client, fake_idp.token(loose, alg="RS512"))


# -- refreshing: unknown kids, rotation ---------------------------------------------------

async def test_unknown_kids_trigger_one_rate_limited_refresh(client: TestClient, fake_idp: FakeIdp,
                                                             clock: FakeClock) -> None:
    await accepted(client, fake_idp.token())
    strangers = [fake_idp.token(new_key(f"forged-{n}")) for n in range(6)]
    await refused(client, strangers[0])
    assert fake_idp.requests["jwks"] == 1  # the set was fetched just now: no refresh yet
    clock.advance(REFRESH_S)
    await asyncio.gather(*(refused(client, token) for token in strangers))
    assert fake_idp.requests["jwks"] == 2  # one refresh for all six
    await refused(client, strangers[0])
    clock.advance(REFRESH_S - 1)
    await refused(client, strangers[0])
    assert fake_idp.requests["jwks"] == 2  # within the interval: no more fetches
    clock.advance(2)
    await refused(client, strangers[0])
    assert fake_idp.requests["jwks"] == 3


async def test_rotation_accepts_the_new_key_and_refuses_the_removed_one(client: TestClient, fake_idp: FakeIdp,
                                                                         clock: FakeClock) -> None:
    old = fake_idp.token()
    await accepted(client, old)
    async with client.ws_connect("/graphql", protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": old}})
        assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
        new_key_ = fake_idp.rotate("rsa-2")
        clock.advance(REFRESH_S)
        await accepted(client, fake_idp.token(new_key_))  # unknown kid: refreshed, then known
        assert fake_idp.requests["jwks"] == 2
        assert "'rsa-1'" in await refused(client, old)
        # the connection opened with the removed key is closed at its next check
        assert await closed_with(ws) == 4403
    assert fake_idp.requests["jwks"] == 2


# -- caching --------------------------------------------------------------------------------

async def test_the_key_set_is_cached_for_the_providers_max_age(client: TestClient, fake_idp: FakeIdp,
                                                               clock: FakeClock) -> None:
    fake_idp.cache_control = "public, max-age=120"
    await accepted(client, fake_idp.token())
    clock.advance(119)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 1
    clock.advance(2)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 2
    assert fake_idp.requests["discovery"] == 1  # the jwks_uri is remembered


async def test_expires_is_honoured_without_max_age(client: TestClient, fake_idp: FakeIdp, clock: FakeClock) -> None:
    fake_idp.cache_control = None
    fake_idp.expires = "Thu, 01 Jan 2099 00:00:00 GMT"
    await accepted(client, fake_idp.token())
    clock.advance(86_000)  # far expiry, clamped by jwks_cache_max_s (one day)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 1
    clock.advance(401)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 2


async def test_no_store_is_clamped_to_the_minimum(make_client: Callable[..., Awaitable[TestClient]],
                                                  fake_idp: FakeIdp, clock: FakeClock) -> None:
    fake_idp.cache_control = "no-store"
    client = await make_client(jwks_cache_min_s=30)
    await accepted(client, fake_idp.token())
    clock.advance(29)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 1
    clock.advance(2)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 2


# -- the provider is down ------------------------------------------------------------------

async def test_a_warm_cache_keeps_serving_while_the_provider_is_down(
        client: TestClient, fake_idp: FakeIdp, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    await accepted(client, fake_idp.token())
    token = fake_idp.token()
    await fake_idp.stop()
    clock.advance(301)  # expired (max-age 300)
    with caplog.at_level(logging.WARNING, logger="app.auth.jwks"):
        await accepted(client, token)
        await accepted(client, token)  # the failed fetch is not retried on every request
    assert [r for r in caplog.records if "could not be refreshed" in r.getMessage()]
    assert len([r for r in caplog.records if "could not be refreshed" in r.getMessage()]) == 1
    clock.advance(3600)  # past jwks_stale_if_error_s (1 h after expiry)
    assert "identity provider" in await refused(client, token, 503, "SERVICE_UNAVAILABLE")
    await fake_idp.start_again()
    clock.advance(REFRESH_S)
    await accepted(client, token)
    assert fake_idp.requests["jwks"] == 2


async def test_the_health_report_shows_the_key_set(client: TestClient, fake_idp: FakeIdp, clock: FakeClock) -> None:
    async def component() -> dict[str, Any]:
        resp = await client.get("/health")
        return dict((await resp.json())["components"]["identity_provider"])

    assert (await component())["status"] == "up"  # nothing fetched yet is not a failure
    await accepted(client, fake_idp.token())
    assert await component() == {"status": "up", "detail": "2 keys, expire in 300 s"}
    await fake_idp.stop()
    clock.advance(400)
    await accepted(client, fake_idp.token())  # stale, still served
    stale = await component()
    assert stale["status"] == "down" and "expired 100 s ago" in stale["detail"]
    assert "127.0.0.1" not in stale["detail"]  # /health answers anyone: no provider address


async def test_errors_from_the_provider_also_fall_back_to_the_cache(client: TestClient, fake_idp: FakeIdp,
                                                                    clock: FakeClock) -> None:
    await accepted(client, fake_idp.token())
    fake_idp.fail_with = 500
    clock.advance(301)
    await accepted(client, fake_idp.token())
    assert fake_idp.requests["jwks"] == 2


async def test_no_keys_at_all_is_503_not_a_silent_refusal(client: TestClient, fake_idp: FakeIdp) -> None:
    fake_idp.fail_with = 503
    assert "retry" in await refused(client, fake_idp.token(), 503, "SERVICE_UNAVAILABLE")


async def test_discovery_naming_another_issuer_is_not_trusted(client: TestClient, fake_idp: FakeIdp,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    fake_idp.discovery_issuer = "https://impostor.example"
    await refused(client, fake_idp.token(), 503, "SERVICE_UNAVAILABLE")
    assert fake_idp.requests == {"discovery": 1}  # its jwks_uri was never fetched


# -- claims ---------------------------------------------------------------------------------

KEYCLOAK = {"role_claim": "realm_access.roles", "user_id_claim": "preferred_username",
            "role_map": {"agentmem-admin": "admin", "agentmem-user": "user", "agentmem-agent": "agent"}}


async def test_nested_roles_map_to_ours(make_client: Callable[..., Awaitable[TestClient]], fake_idp: FakeIdp) -> None:
    client = await make_client(**KEYCLOAK)

    def token(*roles: str, **claims: Any) -> str:
        return fake_idp.token(sub="f3a1", preferred_username="alice",
                              realm_access={"roles": ["offline_access", *roles]}, **claims)

    assert (await ping(client, token("agentmem-user")))["role"] == "user"
    assert (await ping(client, token("agentmem-user", "agentmem-admin")))["role"] == "admin"  # most privileged
    assert (await ping(client, token("agentmem-agent", agent_id="planner")))["role"] == "agent"
    assert "no usable role" in await refused(client, token())  # nothing mapped
    assert "no usable role" in await refused(client, token("admin"))  # our own name is not mapped either
    assert (await ping(client, fake_idp.token(preferred_username="alice")))["role"] == "user"  # no claim: default


async def test_the_mapped_user_id_binds_the_token(make_client: Callable[..., Awaitable[TestClient]],
                                                  fake_idp: FakeIdp) -> None:
    client = await make_client(**KEYCLOAK)
    alice = Caller(client, fake_idp.token(preferred_username="alice", realm_access={"roles": ["agentmem-user"]}))
    admin = Caller(client, fake_idp.token(sub="root", realm_access={"roles": ["agentmem-admin"]}))
    await admin.data('mutation { addMemories(input: {messages: [{role: "user", content: "bob fact"}], '
                     'scope: {userId: "bob"}, infer: false}) { storedRaw } }')
    await alice.data('mutation { addMemories(input: {messages: [{role: "user", content: "alice fact"}], '
                     'scope: {userId: "alice"}, infer: false}) { storedRaw } }')
    assert [n["text"] for n in (await alice.data("{ memories { nodes { text } } }"))["memories"]["nodes"]] == \
        ["alice fact"]
    assert error_code(await alice('{ memories(scope: {userId: "bob"}) { nodes { text } } }')) == "FORBIDDEN"
    everything = (await admin.data("{ memories { nodes { text } } }"))["memories"]["nodes"]
    assert sorted(n["text"] for n in everything) == ["alice fact", "bob fact"]


async def test_namespaced_claim_names_with_dots_are_read_whole(make_client: Callable[..., Awaitable[TestClient]],
                                                               fake_idp: FakeIdp) -> None:
    claim = "https://agentmem.example/roles"
    client = await make_client(role_claim=claim, role_map={"Admins": "admin"})
    assert (await ping(client, fake_idp.token(**{claim: ["Admins"]})))["role"] == "admin"


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The code of the server's close frame (read from the frame: when the client was busy
    elsewhere, its reply may find the socket gone and `ws.close_code` then says 1006)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return ws.close_code
