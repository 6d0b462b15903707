"""One settings model, read once in the composition root and passed down.

Environment variables use the prefix AGENTMEM_ and `__` for nesting, e.g.
AGENTMEM_GRAPH__URI=bolt://neo4j:7687 or AGENTMEM_LLM__BASE_URL=http://llm:8080/v1."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.ops.config_sources import file_sources
from memory.categories import check_categories
from memory.errors import InvalidInput
from memory.options import EXCLUSIVE_RELATIONS, ServiceOptions
from memory.vector_space import VectorSpace

# the core's defaults are the settings' defaults: one set, kept in memory/options.py
_CORE = ServiceOptions()


class GraphSettings(BaseModel):
    enabled: bool = True
    # None: start the embedded ArcadeDB Bolt server under data_dir/graph
    uri: str | None = None
    user: str = "neo4j"
    password: SecretStr | None = None
    database: str = "agentmem"
    embedded_heap_mb: int = Field(384, ge=128, le=8192)
    embedded_start_timeout_s: float = Field(90.0, gt=0)
    embedded_class_archives: bool = Field(
        True, description="keep class-data archives of the embedded server's JVM (~45 MB, under embedder.cache_dir's "
        "jvm/, made by its first starts): its start then takes about half the CPU")


LOCAL_MODEL = "all-MiniLM-L6-v2"  # the model the local providers run (memory/providers/local_embedder.py)


class EmbedderSettings(BaseModel):
    provider: Literal["onnx", "sentence-transformers", "openai"] = "onnx"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "all-MiniLM-L6-v2"
    dimension: int = Field(384, ge=8, le=8192)
    threads: int = Field(1, ge=1, le=64)
    max_batch: int = Field(64, ge=1, le=1024)
    max_wait_ms: float = Field(0.0, ge=0, le=1000)
    # onnx only: int8 weights (docs/deploy.md): ~3x faster, ~60 MiB less resident, vectors at
    # cosine ~0.97 to the float32 model's. None follows the store (bootstrap.settle_embedder):
    # int8 for a store without memories, the weights its memories were embedded with otherwise
    quantized: bool | None = None
    # onnx int8 only: activations quantised with fixed ranges (memory/providers/int8_ranges.py), so
    # passes batch texts: ~1.1-1.5x the throughput under load, as close to the float32 model. Off:
    # each input's range is the pass's own, and the model runs a pass per text. Another vector
    # space: None follows the store (on for a new one; off for a store of the earlier int8 memories)
    static_ranges: bool | None = None
    # onnx only: the model runs in a child process of its own, whose passes never wait for the
    # server's GIL (memory/providers/model_process.py); off: on a thread of the server's process
    isolated: bool = True
    # where the exported ONNX model is cached; None: $XDG_CACHE_HOME/agentmem (or ~/.cache/agentmem)
    cache_dir: Path | None = None

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "agentmem"

    def vector_space(self) -> VectorSpace:
        """The space this embedder's vectors are in. Both local runtimes run the bundled model
        (`model` names the remote one) and give the same vectors."""
        if self.provider == "openai":
            return VectorSpace(self.model, self.dimension)
        if not self.int8():
            return VectorSpace(LOCAL_MODEL, self.dimension, "float32")
        return VectorSpace(LOCAL_MODEL, self.dimension, "int8-static" if self.fixed_ranges() else "int8")

    def int8(self) -> bool:
        """Whether the model runs with int8 weights; unsettled (None) counts as a new store's."""
        return self.provider == "onnx" and self.quantized is not False

    def fixed_ranges(self) -> bool:
        """Whether the int8 model (when it runs) has fixed activation ranges; unsettled (None)
        counts as a new store's."""
        return self.static_ranges is not False


class LLMSettings(BaseModel):
    # None: no LLM; infer=True uses the built-in deterministic extractor
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(30.0, gt=0)


class VisionSettings(BaseModel):
    """A vision-capable model that describes images sent in messages (OpenAI-compatible chat
    completions with image_url content parts). Unset: messages with images are refused (400)."""

    base_url: str | None = Field(None, description="e.g. http://localhost:11434/v1; unset: images in messages are refused")
    api_key: SecretStr | None = Field(None, description="sent as `Authorization: Bearer <key>`")
    model: str = Field("gpt-4o-mini", description="a model that accepts image_url content parts")
    timeout_s: float = Field(30.0, gt=0, description="per description request")
    max_tokens: int = Field(300, ge=16, le=4096, description="longest description asked for")
    max_image_bytes: int = Field(_CORE.image_max_bytes, ge=1024, description="largest data URI image (decoded); "
                                 "its base64 must also fit in max_body_bytes")
    media_types: list[str] = Field(default_factory=lambda: sorted(_CORE.image_media_types),
                                   description="media types accepted in data URIs")


class ExportSettings(BaseModel):
    max_memories: int = Field(_CORE.exports.max_memories, ge=1, le=1_000_000,
                              description="most memories one export may hold; beyond, the export fails and says so")
    retention_s: float = Field(_CORE.exports.retention_s, gt=0, description="exports (and their results) are deleted after this")
    stale_after_s: float = Field(_CORE.exports.stale_after_s, gt=0,
                                 description="an export whose runner has not reported for this long is marked failed")


class RerankerSettings(BaseModel):
    base_url: str | None = Field(
        None, description="a server of the POST {base_url}/rerank API (Cohere, Jina, TEI); unset: no reranker")
    api_key: SecretStr | None = Field(None, description="sent as `Authorization: Bearer <key>`")
    model: str | None = Field(None, description="sent as `model` (Cohere/Jina shape); TEI serves one model")
    api: Literal["cohere", "tei"] = Field(
        "cohere", description="request shape: cohere (query+documents, also Jina/vLLM) or tei (query+texts)")
    timeout_s: float = Field(10.0, gt=0, description="per rerank request; a slow or failing reranker keeps the fused order")
    candidates: int = Field(_CORE.rerank_candidates, ge=1, le=200, description="how many of the best fused hits are reranked")


class MemorySettings(BaseModel):
    dedup_threshold: float = Field(_CORE.dedup_threshold, gt=0, le=1)
    similar_memories: int = Field(_CORE.similar_memories, ge=1, le=50)
    max_limit: int = Field(_CORE.max_limit, ge=1, le=1000)
    index_save_interval_s: float = Field(30.0, gt=0)
    exclusive_relations: list[str] = Field(default_factory=lambda: sorted(EXCLUSIVE_RELATIONS))
    graph_write_timeout_s: float = Field(_CORE.graph_write_timeout_s, gt=0)
    # how often each process picks up memories other processes (replicas sharing PostgreSQL,
    # a CLI import) wrote; 0 turns it off
    sync_interval_s: float = Field(_CORE.sync_interval_s, ge=0, description="seconds between catch-ups with the shared SQL database")
    # Hybrid search fusion. Defaults measured with bench/recall_quality.py (LoCoMo dev split):
    # relative-score fusion with equal weights gave recall@1/@10 0.372/0.697, reciprocal-rank 0.285/0.656.
    fusion: Literal["relative", "rrf"] = Field(
        _CORE.fusion.method.value, description="relative: weighted sum of min-max normalised channel scores; rrf: reciprocal rank")
    fusion_k: int = Field(int(_CORE.fusion.k), ge=1, le=1000, description="reciprocal-rank fusion constant (rrf only; larger: flatter)")
    vector_weight: float = Field(_CORE.fusion.vector, ge=0, le=10, description="weight of the vector channel in hybrid search")
    lexical_weight: float = Field(_CORE.fusion.lexical, ge=0, le=10, description="weight of the full-text channel in hybrid search")
    graph_weight: float = Field(
        _CORE.fusion.graph, ge=0, le=10, description="weight of the graph channel (memories naming the query's entities) in hybrid search")
    search_candidates: int = Field(
        _CORE.fusion.min_candidates, ge=1, le=1000, description="candidates each hybrid search channel contributes (at least 3 x limit)")
    filter_scan_budget: int = Field(
        _CORE.filter_scan_budget, ge=100, description="records one filtered search or list reads at most; a list then answers a short "
        "page with a cursor that resumes the scan"
    )
    record_cache: int = Field(
        10_000, ge=0, description="memory rows kept in process for the repeated reads of searches with filters, asOf, "
        "time words, a threshold or VECTOR mode (0: read SQL every time; other searches read their hits with their "
        "embeddings from SQL); "
        "forgotten on every write, and on another replica's write when the follower sees it; reads by id stay fresh"
    )
    categories: dict[str, str] | None = Field(
        None, description="the categories memories are filed under (name = description) unless an add brings its "
        "own custom_categories; unset: 15 general ones (personal_details, family, food, travel, ... misc: "
        "memory/categories.py)")
    category_threshold: float = Field(
        _CORE.category_threshold, ge=-1, le=1, description="without an LLM: the least cosine similarity between a "
        "memory and a category's description for the memory to be filed under it")
    max_categories: int = Field(_CORE.max_categories, ge=1, le=10, description="categories one memory gets at most")
    project_settings_ttl_s: float = Field(
        _CORE.project_settings_ttl_s, ge=0, le=300, description="seconds a replica keeps the project settings "
        "(custom categories and instructions) before reading them again: how soon another replica's change applies")
    expiry_action: Literal["invalidate", "delete"] = Field(
        "invalidate", description="what the sweep does to expired memories (reads leave them out from their "
        "expiry either way): invalidate (kept, with reason expired) or delete")
    expiry_sweep_s: float = Field(
        _CORE.expiry_sweep_s, ge=0, description="seconds between two expiry sweeps (0: never)")
    text_index: bool = Field(
        _CORE.text_index,
        description="answer search's word and mention channels from an in-memory index built from SQL at start "
                    "(about 40 MB per 100k memories); false: query SQL's full-text index on every search")

    @field_validator("categories")
    @classmethod
    def _category_set(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        try:
            check_categories(value, "memory.categories")
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None  # reported as a configuration error
        return value


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


def _https_or_loopback(url: str, name: str) -> str:
    """Keys fetched over plain HTTP could be swapped by anyone on the path; loopback is for
    local providers and tests."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host in ("localhost", "127.0.0.1", "::1"):
        return url
    raise ValueError(f"auth.idp.{name} must be an https:// URL (http:// only for localhost): {url!r}")


class IdpSettings(BaseModel):
    """JWTs from the user's own identity provider: verified here, never issued. Configure one
    source of keys: an HMAC `secret` (HS256/384/512), a PEM `public_key`/`public_key_file` (RSA:
    RS*/PS*, EC: ES*), a `jwks_url`, or only `issuer` (the JWKS is found through
    `{issuer}/.well-known/openid-configuration`); the accepted algorithms are pinned to each
    key's family."""

    secret: SecretStr | None = Field(None, description="HMAC secret (HS256/384/512), at least 32 bytes")
    public_key: str | None = Field(None, description="PEM public key (RSA: RS*/PS*, EC: ES*)")
    public_key_file: Path | None = Field(None, description="file holding the PEM public key")
    jwks_url: str | None = Field(
        None, description="the provider's JSON Web Key Set (https); unset with only `issuer` set: discovered "
        "from {issuer}/.well-known/openid-configuration")
    algorithms: list[str] | None = Field(None, description="subset of the key family's algorithms; default: all")
    issuer: str | None = Field(
        None, description="required `iss`; set alone (no key, no jwks_url), the keys are found by OpenID discovery")
    audience: str | None = Field(None, description="required `aud` (needed whenever the IdP is configured)")
    leeway_s: float = Field(30.0, ge=0, le=300, description="clock skew tolerated on exp/nbf/iat")
    role_claim: str = Field(
        "role", description="claim naming the role: a string or a list of strings; a dotted path reaches nested "
        "claims (realm_access.roles)")
    role_map: dict[str, Literal["admin", "user", "agent"]] = Field(
        default_factory=dict, description="the provider's role names → ours; empty: the names admin, user, agent "
        "are taken as they are. Names not mapped are ignored; of several, the most privileged wins")
    user_id_claim: str = Field("sub", description="claim (or dotted path) naming the user_id a token is bound to")
    agent_id_claim: str = Field("agent_id", description="claim (or dotted path) naming the agent_id a token is bound to")
    default_role: Literal["user", "agent"] = Field("user", description="role of tokens without the role claim")
    jwks_cache_s: float = Field(
        300.0, ge=0, le=7 * 86_400, description="how long a fetched key set is used when the provider's answer "
        "has no Cache-Control max-age or Expires")
    jwks_cache_min_s: float = Field(60.0, ge=0, le=86_400, description="shortest time a key set is cached, "
                                    "whatever the provider says")
    jwks_cache_max_s: float = Field(86_400.0, ge=0, le=30 * 86_400, description="longest time a key set is "
                                    "cached, whatever the provider says")
    jwks_refresh_interval_s: float = Field(
        30.0, ge=0, le=3600, description="at most one fetch per this many seconds for tokens naming an unknown "
        "`kid` (or after a failed fetch)")
    jwks_stale_if_error_s: float = Field(
        3600.0, ge=0, le=7 * 86_400, description="while the provider cannot be reached, an expired key set is "
        "still used for this long past its expiry (a warning is logged)")
    jwks_timeout_s: float = Field(5.0, gt=0, le=60, description="limit on one discovery or JWKS request")

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key or self.public_key_file or self.jwks_url or self.issuer)

    @property
    def uses_jwks(self) -> bool:
        return self.configured and not (self.secret or self.public_key or self.public_key_file)

    @model_validator(mode="after")
    def _one_key_with_issuer_and_audience(self) -> IdpSettings:
        if sum(bool(x) for x in (self.secret, self.public_key, self.public_key_file, self.jwks_url)) > 1:
            raise ValueError("auth.idp: give one of secret, public_key, public_key_file, jwks_url")
        if self.configured and not (self.issuer and self.audience):
            raise ValueError("auth.idp: issuer and audience are required (both are checked on every token)")
        if self.jwks_url:
            _https_or_loopback(self.jwks_url, "jwks_url")
        elif self.uses_jwks:
            _https_or_loopback(self.issuer or "", "issuer (used for discovery)")
        if self.jwks_cache_min_s > self.jwks_cache_max_s:
            raise ValueError("auth.idp: jwks_cache_min_s is above jwks_cache_max_s")
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
        15.0, gt=0, le=3600,
        description="how often an open WebSocket's or SSE subscription's credential is checked again (revocation, expiry)")
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


class TracingSettings(BaseModel):
    """OpenTelemetry spans: one per HTTP request, GraphQL operation, core operation and store call."""

    enabled: bool = Field(False, description="make spans and continue callers' W3C traceparent; trace_id in JSON logs")
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (http://collector:4318, or the full .../v1/traces URL) spans are "
        "sent to in batches; unset: spans only give log lines their trace_id")
    service_name: str = Field("agentmem", min_length=1, description="`service.name` of the spans")
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces recorded; a caller's sampled flag is followed")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="HTTP headers sent with each export (a collector's API key) (secret)")
    export_timeout_s: float = Field(10.0, gt=0, le=120, description="timeout of one export request")

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("tracing.otlp_endpoint must be an http:// or https:// URL (OTLP over HTTP)")
        return value


class ProcessSettings(BaseModel):
    """glibc malloc tuning that `serve` applies at start and when the embedder goes idle (app/process.py); 0
    keeps glibc's default."""

    malloc_arena_max: int = Field(2, ge=0, description="malloc arenas (glibc's default is 8 per core)")
    # fixed together: a fixed trim threshold alone would also fix glibc's mmap threshold at 128 KiB
    malloc_mmap_threshold_kib: int = Field(
        32768, ge=0, description="allocations this big and larger are mmapped and returned to the OS when freed "
        "(0: glibc's adaptive threshold)")
    malloc_trim_threshold_kib: int = Field(
        4096, ge=0, description="free memory at the top of the heap beyond this goes back to the OS at once "
        "(0: glibc's adaptive default)")
    malloc_release_growth_mib: int = Field(
        4, ge=0, description="once the embedder has been idle for a second, freed heap goes back to the OS "
        "(malloc_trim) if the process has grown this much since the last time (0: never)")


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
    subscriptions_per_connection: int = Field(
        20, ge=1, le=1000, description="operations in flight per WebSocket (and per single-connection SSE stream)")
    subscriptions_per_principal: int = Field(
        100, ge=1, le=100_000, description="memoryEvents subscriptions (any transport) and /v1/events streams one "
        "credential may hold open on one replica")
    connection_init_wait_s: float = Field(
        10.0, gt=0, le=600, description="a WebSocket that sends no connection_init in time is closed (4408); an SSE "
        "stream reservation (PUT /graphql/stream) not opened in time is dropped")
    keep_alive_s: float = Field(
        15.0, gt=0, le=600, description="how often idle subscriptions get a keep-alive: `ka` on legacy graphql-ws, "
        "a comment line on SSE streams")


class ExplorerSettings(BaseModel):
    enabled: bool = Field(
        True, description="serve the explorer (memories, graph and live events in a browser) at /explorer; it "
        "calls the API with the key the person signs in with")


class EventStreamSettings(BaseModel):
    replay_buffer: int = Field(
        1000, ge=1, le=1_000_000, description="latest events kept in memory so that /v1/events clients can resume "
        "with Last-Event-ID (older ones: the client is told it missed events)")


class WebhookSettings(BaseModel):
    enabled: bool = Field(True, description="false: no webhook is registered or delivered (the API refuses them)")
    allow_private_targets: bool = Field(
        False, description="let webhooks reach loopback, private, link-local and other non-public addresses "
        "(tests, a receiver on the same network); checked at registration and on every attempt")
    timeout_s: float = Field(10.0, gt=0, le=120, description="limit on one delivery attempt (connect, send, answer)")
    max_attempts: int = Field(8, ge=1, le=100, description="attempts before a delivery is marked failed")
    backoff_s: float = Field(2.0, gt=0, le=3600, description="wait before the second attempt; doubles after each "
                             "failure (each wait is 50-100 % of that, at random)")
    max_backoff_s: float = Field(600.0, gt=0, le=86_400, description="the longest wait between two attempts")
    max_age_s: float = Field(86_400.0, gt=0, description="a delivery still failing this long after its event is "
                             "marked failed")
    concurrency: int = Field(16, ge=1, le=1000, description="deliveries in flight per replica")
    per_webhook: int = Field(2, ge=1, le=100, description="deliveries in flight to one webhook per replica")
    poll_s: float = Field(1.0, gt=0, le=60, description="how often the outbox is read for due retries (and for "
                          "deliveries enqueued by other replicas)")
    retention_s: float = Field(7 * 86_400.0, gt=0, description="delivered and failed deliveries stay in the log "
                               "this long")
    cache_s: float = Field(5.0, ge=0, le=300, description="how long a replica keeps the list of active webhooks "
                           "(changes made on another replica show after at most this long)")


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
    explorer: ExplorerSettings = Field(default_factory=ExplorerSettings)
    introspection: bool = Field(True, description="false: GraphQL introspection is refused (production)")
    cors_origins: list[str] = Field(
        default_factory=list, description='browser origins allowed to call the API and open WebSockets; ["*"]: any')
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    process: ProcessSettings = Field(default_factory=ProcessSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    events: EventStreamSettings = Field(default_factory=EventStreamSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    replica_id: str | None = None
    graph: GraphSettings = Field(default_factory=GraphSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    reranker: RerankerSettings = Field(default_factory=RerankerSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    exports: ExportSettings = Field(default_factory=ExportSettings)
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
