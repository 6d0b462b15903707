"""One settings model, read once in the composition root and passed down.

Environment variables use the prefix AGENTMEM_ and `__` for nesting, e.g.
AGENTMEM_GRAPH__URI=bolt://neo4j:7687 or AGENTMEM_LLM__BASE_URL=http://llm:8080/v1."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
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


class MemorySettings(BaseModel):
    dedup_threshold: float = Field(0.95, gt=0, le=1)
    similar_memories: int = Field(5, ge=1, le=50)
    max_limit: int = Field(100, ge=1, le=1000)
    index_save_interval_s: float = Field(30.0, gt=0)
    exclusive_relations: list[str] = Field(
        default_factory=lambda: ["LIVES_IN", "WORKS_AT", "IS_MARRIED_TO", "IS_NAMED", "HAS_AGE", "WORKS_AS"]
    )
    graph_write_timeout_s: float = Field(5.0, gt=0)


class HealthSettings(BaseModel):
    timeout_s: float = Field(0.5, gt=0, le=30, description="per-component probe timeout of /health and /health/ready")
    cache_s: float = Field(1.0, ge=0, le=60, description="how long one round of probes answers repeated health requests")


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
    auto_migrate: bool | None = Field(
        None, description="apply pending SQL migrations at start; unset: yes for the embedded SQLite "
        "database, no for a PostgreSQL database_url (run `python -m app migrate upgrade` instead)",
    )
    health: HealthSettings = Field(default_factory=HealthSettings)
    graphiql: bool = True
    max_body_bytes: int = Field(1_048_576, ge=1024)
    replica_id: str | None = None
    graph: GraphSettings = Field(default_factory=GraphSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
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
