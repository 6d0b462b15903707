"""One settings model, read once in the composition root and passed down.

Environment variables use the prefix AGENTMEM_ and `__` for nesting, e.g.
AGENTMEM_GRAPH__URI=bolt://neo4j:7687 or AGENTMEM_LLM__BASE_URL=http://llm:8080/v1."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.ops.config_sources import file_sources


class GraphSettings(BaseModel):
    enabled: bool = True
    # None: start the embedded ArcadeDB Bolt server under data_dir/graph
    uri: str | None = None
    user: str = "neo4j"
    password: SecretStr | None = None
    database: str = "agentmem"
    embedded_heap_mb: int = Field(384, ge=128, le=8192)
    embedded_start_timeout_s: float = Field(90.0, gt=0)


class EmbedderSettings(BaseModel):
    provider: Literal["onnx", "sentence-transformers", "openai"] = "onnx"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "all-MiniLM-L6-v2"
    dimension: int = Field(384, ge=8, le=8192)
    threads: int = Field(1, ge=1, le=64)
    max_batch: int = Field(64, ge=1, le=1024)
    max_wait_ms: float = Field(2.0, ge=0, le=1000)
    # where the exported ONNX model is cached; None: $XDG_CACHE_HOME/agentmem (or ~/.cache/agentmem)
    cache_dir: Path | None = None

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "agentmem"


class LLMSettings(BaseModel):
    # None: no LLM; infer=True uses the built-in deterministic extractor
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(30.0, gt=0)


class RerankerSettings(BaseModel):
    base_url: str | None = Field(
        None, description="a server of the POST {base_url}/rerank API (Cohere, Jina, TEI); unset: no reranker")
    api_key: SecretStr | None = Field(None, description="sent as `Authorization: Bearer <key>`")
    model: str | None = Field(None, description="sent as `model` (Cohere/Jina shape); TEI serves one model")
    api: Literal["cohere", "tei"] = Field(
        "cohere", description="request shape: cohere (query+documents, also Jina/vLLM) or tei (query+texts)")
    timeout_s: float = Field(10.0, gt=0, description="per rerank request; a slow or failing reranker keeps the fused order")
    candidates: int = Field(20, ge=1, le=200, description="how many of the best fused hits are reranked")


class MemorySettings(BaseModel):
    dedup_threshold: float = Field(0.95, gt=0, le=1)
    similar_memories: int = Field(5, ge=1, le=50)
    max_limit: int = Field(100, ge=1, le=1000)
    index_save_interval_s: float = Field(30.0, gt=0)
    exclusive_relations: list[str] = Field(
        default_factory=lambda: ["LIVES_IN", "WORKS_AT", "IS_MARRIED_TO", "IS_NAMED", "HAS_AGE", "WORKS_AS"]
    )
    graph_write_timeout_s: float = Field(5.0, gt=0)
    # how often each process picks up memories other processes (replicas sharing PostgreSQL,
    # a CLI import) wrote; 0 turns it off
    sync_interval_s: float = Field(2.0, ge=0, description="seconds between catch-ups with the shared SQL database")
    # Hybrid search fusion. Defaults measured with bench/recall_quality.py (LoCoMo dev split):
    # relative-score fusion with equal weights gave recall@1/@10 0.372/0.697, reciprocal-rank 0.285/0.656.
    fusion: Literal["relative", "rrf"] = Field(
        "relative", description="relative: weighted sum of min-max normalised channel scores; rrf: reciprocal rank")
    fusion_k: int = Field(60, ge=1, le=1000, description="reciprocal-rank fusion constant (rrf only; larger: flatter)")
    vector_weight: float = Field(1.0, ge=0, le=10, description="weight of the vector channel in hybrid search")
    lexical_weight: float = Field(1.0, ge=0, le=10, description="weight of the full-text channel in hybrid search")
    graph_weight: float = Field(
        0.5, ge=0, le=10, description="weight of the graph channel (memories naming the query's entities) in hybrid search")
    search_candidates: int = Field(
        30, ge=1, le=1000, description="candidates each hybrid search channel contributes (at least 3 x limit)")
    filter_scan_budget: int = Field(
        10_000, ge=100, description="records one filtered search or list reads at most; a list then answers a short "
        "page with a cursor that resumes the scan"
    )
    record_cache: int = Field(
        10_000, ge=0, description="memory rows kept in process for searches' repeated reads (0: read SQL every time); "
        "forgotten on every write, and on another replica's write when the follower sees it; reads by id stay fresh"
    )


class LogSettings(BaseModel):
    """A log file beside stderr, rotated by the stdlib handlers (app/ops/logs.py)."""

    file: Path | None = Field(None, description="also write the log to this file (stderr keeps it too); unset: stderr only")
    rotate_bytes: int = Field(
        0, ge=0, description="start a new file when the current one would pass this size (0: never by size)")
    rotate_when: Literal["S", "M", "H", "D", "midnight", "W0", "W1", "W2", "W3", "W4", "W5", "W6"] | None = Field(
        None, description="start a new file every second/minute/hour/day, at midnight or on a weekday (W0: Monday); "
        "unset: never by time")
    rotate_utc: bool = Field(False, description="time rotation follows UTC rather than local time")
    backup_count: int = Field(7, ge=1, le=1000, description="rotated files kept; older ones are deleted")
    compress: bool = Field(False, description="gzip each rotated file (name.1.gz)")

    @model_validator(mode="after")
    def _one_rotation(self) -> LogSettings:
        if self.rotate_bytes and self.rotate_when:
            raise ValueError("log: rotate by size (rotate_bytes) or by time (rotate_when), not both")
        return self


class HealthSettings(BaseModel):
    timeout_s: float = Field(0.5, gt=0, le=30, description="per-component probe timeout of /health and /health/ready")
    cache_s: float = Field(1.0, ge=0, le=60, description="how long one round of probes answers repeated health requests")
    embedder_stall_s: float = Field(
        20.0, gt=0, le=600,
        description="a local embedder with work running or queued and no progress for this long is down (stuck)",
    )


class IdpSettings(BaseModel):
    """JWTs from the user's own identity provider: verified here, never issued. Configure one
    key: an HMAC `secret` (HS256/384/512) or a PEM `public_key`/`public_key_file` (RSA: RS*/PS*,
    EC: ES*); the accepted algorithms are pinned to that key's family."""

    secret: SecretStr | None = Field(None, description="HMAC secret (HS256/384/512), at least 32 bytes")
    public_key: str | None = Field(None, description="PEM public key (RSA: RS*/PS*, EC: ES*)")
    public_key_file: Path | None = Field(None, description="file holding the PEM public key")
    algorithms: list[str] | None = Field(None, description="subset of the key family's algorithms; default: all")
    issuer: str | None = Field(None, description="required `iss` (needed once a key is set)")
    audience: str | None = Field(None, description="required `aud` (needed once a key is set)")
    leeway_s: float = Field(30.0, ge=0, le=300, description="clock skew tolerated on exp/nbf/iat")
    role_claim: str = Field("role", description="claim naming the role (admin, user, agent)")
    user_id_claim: str = Field("sub", description="claim naming the user_id a token is bound to")
    agent_id_claim: str = Field("agent_id", description="claim naming the agent_id a token is bound to")
    default_role: Literal["user", "agent"] = Field("user", description="role of tokens without the role claim")

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key or self.public_key_file)

    @model_validator(mode="after")
    def _one_key_with_issuer_and_audience(self) -> IdpSettings:
        if sum(bool(x) for x in (self.secret, self.public_key, self.public_key_file)) > 1:
            raise ValueError("auth.idp: give one of secret, public_key, public_key_file")
        if self.configured and not (self.issuer and self.audience):
            raise ValueError("auth.idp: issuer and audience are required (both are checked on every token)")
        return self


class AuthSettings(BaseModel):
    mode: Literal["enforced", "development"] = Field(
        "enforced", description="development: no authentication, every caller is an admin (warned at every start)")
    api_key_pepper: SecretStr | None = Field(
        None, description="HMAC key for stored API key hashes; keep it stable (changing it invalidates peppered keys)")
    token_secret: SecretStr | None = Field(
        None, min_length=32, description="signs the access tokens we issue (HS256); unset: generated once under "
        "data_dir. Replicas must share one")
    token_issuer: str = Field("agentmem", description="`iss` and `aud` of the tokens we issue")
    access_token_ttl_s: int = Field(900, ge=30, le=86_400, description="lifetime of an access token")
    refresh_token_ttl_s: int = Field(30 * 86_400, ge=60, le=365 * 86_400, description="lifetime of a refresh token")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks (CIDR) of reverse proxies whose Forwarded / "
        "X-Forwarded-For header names the client; empty: the TCP peer is the client")
    websocket_recheck_s: float = Field(
        15.0, gt=0, le=3600, description="how often an open WebSocket's credential is checked again (revocation, expiry)")
    key_cache_s: float = Field(
        2.0, ge=0, le=60,
        description="how long a verified API key is trusted without reading its row; a revocation made through "
        "another replica or the CLI takes up to this long (0: read the row on every request)",
    )
    idp: IdpSettings = Field(default_factory=IdpSettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value


class MetricsSettings(BaseModel):
    cache_s: float = Field(
        15.0, ge=0, le=3600, description="how long the live gauges (SQL and graph counts) are reused between scrapes")
    token: SecretStr | None = Field(None, description="when set, /metrics wants `Authorization: Bearer <token>`")
    port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics on this port (on metrics.host) instead of the API port")
    host: str = Field("127.0.0.1", description="interface of the separate metrics port")


class ProcessSettings(BaseModel):
    """glibc malloc tuning that `serve` applies at start (app/process.py); 0 keeps glibc's default."""

    malloc_arena_max: int = Field(2, ge=0, description="malloc arenas (glibc's default is 8 per core)")
    malloc_mmap_threshold_kib: int = Field(
        0, ge=0, description="allocations this big and larger are mmapped and returned to the OS when freed "
        "(0: glibc's adaptive threshold)")
    malloc_trim_threshold_kib: int = Field(
        0, ge=0, description="free memory at the top of the heap beyond this goes back to the OS (0: glibc's default)")


class LimitSettings(BaseModel):
    """Rate limits (token buckets) and GraphQL cost guards."""

    rate_limits: bool = Field(True, description="false: no rate limits at all")
    requests_per_s: float = Field(20.0, gt=0, description="sustained requests per principal")
    burst: int = Field(100, ge=1, description="requests a principal may make at once")
    auth_failures_per_min: float = Field(10.0, gt=0, description="failed authentications per client address")
    auth_failure_burst: int = Field(20, ge=1, description="failed authentications an address may make at once")
    token_requests_per_min: float = Field(30.0, gt=0, description="/auth/token requests per client address")
    token_burst: int = Field(10, ge=1, description="/auth/token requests an address may make at once")
    redis_prefix: str = Field("agentmem:rl:", description="key prefix of the shared buckets when redis_url is set")
    max_depth: int = Field(12, ge=2, le=100, description="deepest selection a GraphQL operation may make")
    max_aliases: int = Field(30, ge=1, le=1000, description="aliases per GraphQL operation")
    max_tokens: int = Field(5000, ge=100, le=1_000_000, description="tokens per GraphQL document")
    max_cost: int = Field(20_000, ge=10, description="cost per GraphQL operation (fields, multiplied by page sizes)")
    list_size: int = Field(10, ge=1, le=1000, description="assumed length of a list field without first/limit, for the cost")
    max_response_bytes: int = Field(
        10 * 2**20, ge=1024, description="largest GraphQL answer sent; a larger one becomes a RESPONSE_TOO_LARGE error")
    subscriptions_per_connection: int = Field(20, ge=1, le=1000, description="operations in flight per WebSocket")
    connection_init_wait_s: float = Field(
        10.0, gt=0, le=600, description="a WebSocket that sends no connection_init in time is closed (4408)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTMEM_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("data")
    # None: SQLite file under data_dir; PostgreSQL: postgresql+asyncpg://user@host/db
    database_url: str | None = None
    redis_url: str | None = None
    # pub/sub channel the replicas share for live events (one per deployment)
    redis_channel: str = "agentmem:events"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = Field(
        "text", description="json: one JSON object per line (production); text: readable lines (development)"
    )
    log: LogSettings = Field(default_factory=LogSettings)
    auto_migrate: bool | None = Field(
        None, description="apply pending SQL migrations at start; unset: yes for the embedded SQLite "
        "database, no for a PostgreSQL database_url (run `python -m app migrate upgrade` instead)",
    )
    health: HealthSettings = Field(default_factory=HealthSettings)
    graphiql: bool = True
    introspection: bool = Field(True, description="false: GraphQL introspection is refused (production)")
    cors_origins: list[str] = Field(
        default_factory=list, description='browser origins allowed to call the API and open WebSockets; ["*"]: any')
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    process: ProcessSettings = Field(default_factory=ProcessSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    replica_id: str | None = None
    graph: GraphSettings = Field(default_factory=GraphSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    reranker: RerankerSettings = Field(default_factory=RerankerSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # highest first: command-line flags (init values), AGENTMEM_* variables, the config file
        return (init_settings, env_settings, *file_sources(settings_cls), file_secret_settings)

    def migrates_on_start(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else self.sql_url().startswith("sqlite")

    def sql_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'agentmem.db').resolve()}"
