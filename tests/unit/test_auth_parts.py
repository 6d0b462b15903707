"""The pure parts of authentication and the GraphQL guards: hashing, token buckets, where
credentials are read from, the identity provider's key pinning, and the cost rule."""
from __future__ import annotations

import pytest
from graphql import parse

from app.auth.authenticator import credential_from_headers, credential_from_params
from app.auth.idp import IdpVerifier
from app.auth.keys import SecretHasher, key_id, new_key
from app.auth.ratelimit import Bucket, MemoryRateLimiter
from app.graphql.limits import operation_cost
from app.graphql.schema import build_schema
from app.settings import IdpSettings
from memory.errors import Unauthenticated


def test_hashes_name_their_scheme_and_need_the_pepper_they_were_made_with() -> None:
    plain, peppered = SecretHasher(), SecretHasher(b"pepper")
    _, key = new_key()
    assert plain.hash(key).startswith("sha256:") and peppered.hash(key).startswith("hmac-sha256:")
    assert plain.verify(key, plain.hash(key)) and peppered.verify(key, plain.hash(key))  # old keys still pass
    assert peppered.verify(key, peppered.hash(key)) and not plain.verify(key, peppered.hash(key))
    assert not SecretHasher(b"other").verify(key, peppered.hash(key))
    assert not plain.verify(key + "x", plain.hash(key)) and not plain.verify(key, "md5:abc")


def test_keys_have_one_shape() -> None:
    id, key = new_key()
    assert key_id(key) == id and len(id) == 16
    assert key_id(key + "x") is None and key_id(key.replace("amk_", "amr_")) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter, bucket = MemoryRateLimiter(clock), Bucket(rate=2, burst=3)
    assert [await limiter.acquire("k", bucket) for _ in range(3)] == [0, 0, 0]
    assert await limiter.acquire("k", bucket) == pytest.approx(0.5)
    assert await limiter.acquire("other", bucket) == 0
    clock.now = 0.5
    assert await limiter.acquire("k", bucket) == 0
    assert await limiter.acquire("k", bucket, cost=0) == pytest.approx(0.5)  # a check takes nothing
    clock.now = 100
    assert [await limiter.acquire("k", bucket) for _ in range(4)][-1] > 0  # never more than the burst


async def test_the_limiter_forgets_full_buckets_when_it_has_too_many() -> None:
    clock = Clock()
    limiter, bucket = MemoryRateLimiter(clock, max_keys=10), Bucket(rate=1, burst=1)
    for n in range(10):
        await limiter.acquire(f"k{n}", bucket)
    clock.now = 5
    await limiter.acquire("new", bucket)
    assert len(limiter._state) == 1


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Authorization": "Bearer abc"}, "abc"), ({"Authorization": "bearer  abc "}, "abc"),
    ({"Authorization": "Token abc"}, "abc"), ({"X-API-Key": "abc"}, "abc"), ({}, None),
    ({"Authorization": "Bearer a", "X-API-Key": "b"}, "a"),
])
def test_credentials_are_read_from_the_usual_headers(headers: dict[str, str], expected: str | None) -> None:
    assert credential_from_headers(headers) == expected


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "abc", "Digest x"])
def test_other_authorization_schemes_are_refused(header: str) -> None:
    with pytest.raises(Unauthenticated):
        credential_from_headers({"Authorization": header})


@pytest.mark.parametrize(("params", "expected"), [
    ({"Authorization": "Bearer abc"}, "abc"), ({"authorization": "abc"}, "abc"), ({"token": "abc"}, "abc"),
    ({"apiKey": "abc"}, "abc"), ({"headers": {"X-API-Key": "abc"}}, "abc"), ({"token": 5}, None), (None, None),
    ({"headers": "x"}, None),
])
def test_credentials_are_read_from_connection_params(params: dict | None, expected: str | None) -> None:
    assert credential_from_params(params) == expected


@pytest.mark.parametrize("cfg", [
    {"secret": "short", "issuer": "i", "audience": "a"},
    {"secret": "x" * 40, "issuer": "i", "audience": "a", "algorithms": ["RS256"]},
    {"secret": "x" * 40, "issuer": "i", "audience": "a", "algorithms": ["none"]},
])
def test_idp_keys_pin_their_algorithm_family(cfg: dict) -> None:
    with pytest.raises(ValueError):
        IdpVerifier(IdpSettings(**cfg))


def test_idp_settings_need_issuer_and_audience_and_one_key() -> None:
    with pytest.raises(ValueError):
        IdpSettings(secret="x" * 40)
    with pytest.raises(ValueError):
        IdpSettings(secret="x" * 40, public_key="pem", issuer="i", audience="a")


SCHEMA = build_schema()._schema


def cost(document: str, variables: dict | None = None, list_size: int = 10, max_page: int = 100) -> int:
    return operation_cost(SCHEMA, parse(document), None, variables, list_size, max_page)


@pytest.mark.parametrize(("document", "variables", "expected"), [
    ("{ __typename }", None, 1),
    ("{ memories { nodes { id } } }", None, 1 + 20 * 2),  # the argument's default: 20
    ("query($n: Int! = 5) { memories(first: $n) { nodes { id } } }", None, 1 + 5 * 2),
    ("query($n: Int!) { memories(first: $n) { nodes { id } } }", {"n": 7}, 1 + 7 * 2),
    ("{ memories(first: 100000) { nodes { id } } }", None, 1 + 100 * 2),  # capped at the largest page
    ("{ memories(first: -3) { nodes { id } } }", None, 1),
    # nested graph lists are priced by their `first` (default 20; Neighbourhood lists 100)
    ("{ memory(id: 1) { history { event } relations { source } } }", None, 1 + 11 + 21),
    ("{ search(query: \"q\", scope: {userId: \"a\"}, limit: 3) { hits { memory { id } } } }", None, 1 + 3 * (1 + 2)),
    ("{ neighbourhood(scope: {userId: \"a\"}, entity: \"e\") { entities { neighbours { name } } } }", None,
     1 + (1 + 100 * (1 + 20 * 1))),
])
def test_the_cost_rule(document: str, variables: dict | None, expected: int) -> None:
    assert cost(document, variables) == expected


def test_fragments_are_priced_once_however_often_they_are_spread() -> None:
    # 2^20 spreads if expanded; priced in linear time
    fragments = "\n".join(f"fragment F{n} on Memory {{ ...F{n + 1} ...F{n + 1} }}" for n in range(20))
    document = "{ memory(id: 1) { ...F0 } }\n" + fragments + "\nfragment F20 on Memory { id }"
    assert cost(document) == 1 + 2**20
