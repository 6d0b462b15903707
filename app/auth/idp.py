"""Verifying JWTs from the user's own identity provider and mapping their claims to a Principal.

The key is a configured one (HMAC secret or PEM public key) or comes from the provider's JWKS
(app/auth/jwks.py). The accepted algorithms are pinned to the key's family: an HMAC secret
accepts only HS*, an RSA key only RS*/PS*, an EC key only ES* (a JWK: only its own `alg` when
it states one; a JWKS never yields HS*). So `alg: none` never verifies, and a token signed with
HS256 using the public key as the "secret" (algorithm confusion) is refused before any
signature is computed."""
from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.auth.jwks import RSA_ALGORITHMS, JwksCache
from app.settings import IdpSettings
from memory.access import Principal, Role
from memory.errors import InvalidInput, Unauthenticated
from memory.models import Scope

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
INVALID = "invalid or expired token"
REQUIRED_CLAIMS = ["exp", "iss", "aud"]
# of several roles a token's claim maps to, the first of these wins
PRIVILEGE = (Role.ADMIN, Role.USER, Role.AGENT)


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
        assert cfg.issuer and cfg.audience  # IdpSettings requires both once a key is set
        self.issuer = cfg.issuer
        self._audience = cfg.audience
        self._leeway = cfg.leeway_s
        self._cfg = cfg
        self.jwks: JwksCache | None = None
        if cfg.uses_jwks:
            family = RSA_ALGORITHMS + EC_ALGORITHMS
            wrong = [alg for alg in cfg.algorithms or () if alg not in family]
            if wrong or cfg.algorithms == []:
                raise ValueError(f"auth.idp.algorithms {wrong or []} cannot be used with a JWKS "
                                 f"(allowed: {', '.join(family)})")
            self.jwks = JwksCache(cfg)
            return
        self._key, family = _key_and_family(cfg)
        chosen = tuple(cfg.algorithms or family)
        wrong = [alg for alg in chosen if alg not in family]
        if wrong or not chosen:
            raise ValueError(f"auth.idp.algorithms {wrong or chosen} do not match the key (allowed: {', '.join(family)})")
        self._algorithms = list(chosen)

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()

    async def verify(self, token: str) -> Principal:
        key, algorithms = await self._key_for(token)
        try:
            claims = jwt.decode(
                token, key, algorithms=algorithms, issuer=self.issuer, audience=self._audience,
                leeway=self._leeway, options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience is not this service") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not the configured identity provider") from None
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID) from None
        return self.principal(claims)

    async def _key_for(self, token: str) -> tuple[Any, list[str]]:
        if self.jwks is None:
            return self._key, self._algorithms
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        if issuer != self.issuer:  # refused before its kid can make us fetch the key set
            raise Unauthenticated("token issuer is not the configured identity provider")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in RSA_ALGORITHMS + EC_ALGORITHMS:
            raise Unauthenticated(f"algorithm {alg!r} is not accepted from the identity provider")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("malformed token (kid)")
        signing = await self.jwks.key(kid, alg)
        return signing.key, [alg]

    def principal(self, claims: dict[str, Any]) -> Principal:
        cfg = self._cfg
        user_id, agent_id = _text(claim(claims, cfg.user_id_claim)), _text(claim(claims, cfg.agent_id_claim))
        try:
            role = self._role(claim(claims, cfg.role_claim))
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

    def _role(self, raw: object) -> Role:
        cfg = self._cfg
        if raw is None:
            return Role(cfg.default_role)
        names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        mapping: dict[str, str] = cfg.role_map or {role.value: role.value for role in Role}
        roles = {Role(mapping[name]) for name in names if isinstance(name, str) and name in mapping}
        if not roles:
            raise ValueError(f"claim {cfg.role_claim!r} names no role we know")
        return next(role for role in PRIVILEGE if role in roles)


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, else by dotted path into nested objects (`realm_access.roles`); a name
    that itself holds dots (`https://example.com/roles`) is tried first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
