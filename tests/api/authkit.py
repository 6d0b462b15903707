"""Helpers for tests that run the app with real authentication: settings, credentials (API
keys, our tokens, identity-provider JWTs signed here) and a caller that sends them."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth import KEY_MANAGER_KEY
from app.settings import Settings
from memory.access import Role

IDP_SECRET = "idp-shared-secret-for-tests-0123456789abcdef"
IDP_ISSUER = "https://idp.example.test/"
IDP_AUDIENCE = "agentmem-tests"


def secure_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Authentication enforced; the IdP trusts an HS256 secret unless overridden."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "graph": {"enabled": False},
        "auth": {"idp": {"secret": IDP_SECRET, "issuer": IDP_ISSUER, "audience": IDP_AUDIENCE}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


def rsa_keys() -> tuple[bytes, str]:
    """(private PEM, public PEM)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


def idp_token(key: Any = IDP_SECRET, algorithm: str = "HS256", *, lifetime: float = 300, headers: dict | None = None,
              **claims: Any) -> str:
    """A token as the identity provider would issue it; claims override the defaults (None removes one)."""
    now = int(time.time())
    body: dict[str, Any] = {"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "alice", "iat": now, "nbf": now,
                            "exp": now + lifetime, "role": "user"}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def _part(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _claims(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "alice", "exp": now + 300, "role": "admin", **claims}


def unsigned_token(**claims: Any) -> str:
    """`alg: none`: a header and a body with an empty signature."""
    return f"{_part({'alg': 'none', 'typ': 'JWT'})}.{_part(_claims(**claims))}."


def hs256_by_hand(secret: bytes, **claims: Any) -> str:
    """HS256 with any bytes as the secret (pyjwt refuses to use a PEM public key as one, which
    is exactly what the algorithm-confusion attack does)."""
    signing_input = f"{_part({'alg': 'HS256', 'typ': 'JWT'})}.{_part(_claims(**claims))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_part(signature)}"


async def make_key(app: web.Application, role: str, name: str = "test", **binding: Any) -> str:
    _, text = await app[KEY_MANAGER_KEY].create(name, Role(role), **binding)
    return text


class Caller:
    """POSTs GraphQL with one credential; `headers` gives the header form."""

    def __init__(self, client: TestClient, credential: str | None, form: str = "bearer") -> None:
        self.client = client
        self.credential = credential
        self.form = form

    @property
    def headers(self) -> dict[str, str]:
        if self.credential is None:
            return {}
        if self.form == "x-api-key":
            return {"X-API-Key": self.credential}
        if self.form == "token":
            return {"Authorization": f"Token {self.credential}"}
        return {"Authorization": f"Bearer {self.credential}"}

    async def post(self, document: str, /, **variables: Any) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post("/graphql", json={"query": document, "variables": variables},
                                      headers=self.headers)
        return resp.status, await resp.json()

    async def __call__(self, document: str, /, **variables: Any) -> dict[str, Any]:
        status, body = await self.post(document, **variables)
        assert status == 200, body
        return body

    async def data(self, document: str, /, **variables: Any) -> dict[str, Any]:
        body = await self(document, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


def error_code(body: dict[str, Any]) -> str:
    (error,) = body["errors"]
    return str(error["extensions"]["code"])
