"""The pure parts of JWKS verification: cache lifetimes from response headers, which algorithms
a JWK may verify, which keys of a set are usable, claim paths, and the settings' checks."""
from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.auth.idp import IdpVerifier, claim
from app.auth.jwks import JwksError, cache_lifetime, key_algorithms, signing_keys
from app.settings import IdpSettings

DEFAULTS = {"default_s": 300.0, "min_s": 60.0, "max_s": 3600.0}


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, 300.0),  # nothing said: the configured default
    ({"Cache-Control": "public, max-age=900"}, 900.0),
    ({"Cache-Control": "max-age=900", "Age": "100"}, 800.0),
    ({"Cache-Control": "max-age=5"}, 60.0),  # clamped up
    ({"Cache-Control": "max-age=999999"}, 3600.0),  # clamped down
    ({"Cache-Control": "no-store"}, 60.0),
    ({"Cache-Control": "max-age=abc"}, 60.0),
    ({"Cache-Control": "max-age=900", "Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 900.0),  # max-age wins
    ({"Expires": "Wed, 02 Dec 2026 16:20:00 GMT", "Date": "Wed, 02 Dec 2026 16:00:00 GMT"}, 1200.0),
    ({"Expires": "0"}, 60.0),  # an unparseable Expires is already stale
])
def test_cache_lifetime_follows_the_headers_within_the_clamps(headers: dict[str, str], expected: float) -> None:
    assert cache_lifetime(headers, **DEFAULTS) == expected


def rsa_jwk(**extra: Any) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), **extra}


def ec_jwk(curve: ec.EllipticCurve = ec.SECP256R1(), **extra: Any) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(ec.generate_private_key(curve).public_key(), as_dict=True), **extra}


@pytest.mark.parametrize(("jwk", "expected"), [
    ({"kty": "RSA"}, ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")),
    ({"kty": "RSA", "alg": "PS384"}, ("PS384",)),
    ({"kty": "RSA", "alg": "ES256"}, ()),  # an alg outside the key's family: unusable
    ({"kty": "RSA", "alg": "HS256"}, ()),
    ({"kty": "EC", "crv": "P-384"}, ("ES384",)),  # pinned to the curve
    ({"kty": "EC", "crv": "P-256", "alg": "ES512"}, ()),
    ({"kty": "oct", "alg": "HS256"}, ()),  # never HS from a key set
    ({"kty": "OKP", "crv": "Ed25519"}, ()),
])
def test_a_jwk_verifies_only_its_own_family_and_stated_alg(jwk: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert key_algorithms(jwk) == expected


def test_only_usable_signing_keys_are_kept() -> None:
    document = {"keys": [
        rsa_jwk(kid="sig", use="sig", alg="RS256"),
        rsa_jwk(kid="enc", use="enc"),
        rsa_jwk(kid="wrap", key_ops=["wrapKey"]),
        ec_jwk(kid="ec", alg="ES256"),
        {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},  # no exponent
        "not a key",
    ]}
    assert [(k.kid, k.algorithms) for k in signing_keys(document)] == [("sig", ("RS256",)), ("ec", ("ES256",))]
    assert [k.kid for k in signing_keys(document, allowed=["ES256"])] == ["ec"]


@pytest.mark.parametrize("document", [[], {}, {"keys": "x"}, "keys"])
def test_a_document_without_a_keys_list_is_not_a_key_set(document: Any) -> None:
    with pytest.raises(JwksError):
        signing_keys(document)


@pytest.mark.parametrize(("path", "expected"), [
    ("sub", "u1"),
    ("realm_access.roles", ["a", "b"]),
    ("https://example.com/roles", ["x"]),  # a dotted name is read whole first
    ("realm_access.missing", None),
    ("sub.deeper", None),
])
def test_claims_are_read_by_name_or_dotted_path(path: str, expected: Any) -> None:
    claims = {"sub": "u1", "realm_access": {"roles": ["a", "b"]}, "https://example.com/roles": ["x"]}
    assert claim(claims, path) == expected


@pytest.mark.parametrize("cfg", [
    {"jwks_url": "http://idp.example.com/keys"},  # plain HTTP off this machine
    {"jwks_url": "ftp://localhost/keys"},
    {"issuer": "http://idp.example.com"},  # discovery over plain HTTP
    {"jwks_url": "https://idp.example.com/keys", "secret": "x" * 40},  # two sources of keys
    {"jwks_url": "https://idp.example.com/keys", "jwks_cache_min_s": 100, "jwks_cache_max_s": 50},
])
def test_jwks_settings_are_checked(cfg: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        IdpSettings(**{"issuer": "https://idp.example.com", "audience": "a", **cfg})


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], []])
def test_hmac_and_none_are_never_accepted_from_a_jwks(algorithms: list[str]) -> None:
    with pytest.raises(ValueError):
        IdpVerifier(IdpSettings(issuer="https://idp.example.com", audience="a", algorithms=algorithms))


def test_only_the_issuer_means_discovery_and_localhost_may_use_http() -> None:
    cfg = IdpSettings(issuer="http://127.0.0.1:8080/realms/x", audience="a")
    assert cfg.configured and cfg.uses_jwks
    assert IdpVerifier(cfg).jwks is not None
    assert not IdpSettings().configured
