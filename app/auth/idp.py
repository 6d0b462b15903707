"""Verifying JWTs from the user's own identity provider and mapping their claims to a Principal.

The accepted algorithms are pinned to the configured key's family: an HMAC secret accepts
only HS*, an RSA key only RS*/PS*, an EC key only ES*. So `alg: none` never verifies, and a
token signed with HS256 using the public key as the "secret" (algorithm confusion) is refused
before any signature is computed."""
from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.settings import IdpSettings
from memory.access import Principal, Role
from memory.errors import InvalidInput, Unauthenticated
from memory.models import Scope

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
INVALID = "invalid or expired token"
REQUIRED_CLAIMS = ["exp", "iss", "aud"]


def _key_and_family(cfg: IdpSettings) -> tuple[Any, tuple[str, ...]]:
    if cfg.secret is not None:
        secret = cfg.secret.get_secret_value().encode()
        if len(secret) < 32:
            raise ValueError("auth.idp.secret must be at least 32 bytes (RFC 7518 §3.2)")
        return secret, HMAC_ALGORITHMS
    pem = cfg.public_key or (cfg.public_key_file.read_text() if cfg.public_key_file else "")
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return key, RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key, EC_ALGORITHMS
    raise ValueError(f"auth.idp public key: unsupported key type {type(key).__name__} (RSA or EC)")


class IdpVerifier:
    def __init__(self, cfg: IdpSettings) -> None:
        self._key, family = _key_and_family(cfg)
        chosen = tuple(cfg.algorithms or family)
        wrong = [alg for alg in chosen if alg not in family]
        if wrong or not chosen:
            raise ValueError(f"auth.idp.algorithms {wrong or chosen} do not match the key (allowed: {', '.join(family)})")
        self._algorithms = list(chosen)
        assert cfg.issuer and cfg.audience  # IdpSettings requires both once a key is set
        self.issuer = cfg.issuer
        self._audience = cfg.audience
        self._leeway = cfg.leeway_s
        self._cfg = cfg

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=self._algorithms, issuer=self.issuer, audience=self._audience,
                leeway=self._leeway, options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID) from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        cfg = self._cfg
        raw_role = claims.get(cfg.role_claim, cfg.default_role)
        user_id, agent_id = _text(claims.get(cfg.user_id_claim)), _text(claims.get(cfg.agent_id_claim))
        try:
            role = Role(raw_role) if isinstance(raw_role, str) else None
            if role is None:
                raise ValueError(f"claim {cfg.role_claim!r} is not a role")
            if role is Role.ADMIN:
                user_id = agent_id = None
            elif role is Role.USER:
                agent_id = None
            Scope(user_id, agent_id)  # ids a scope would refuse are refused here
            subject = _text(claims.get("sub")) or user_id or agent_id or "unknown"
            return Principal(f"idp:{subject}", role, user_id, agent_id)
        except (ValueError, InvalidInput):
            # a valid signature over claims we cannot map is still not a usable credential
            raise Unauthenticated("the token's claims name no usable role and binding") from None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
