"""The composition root: the only module that knows the concrete adapters.

`service_context(settings)` opens every resource in order (SQL with migrations, the vector
index, the graph — the embedded ArcadeDB server when no URI is configured — the embedder and
the LLM), starts the service, and closes them in reverse order."""
from __future__ import annotations

import contextlib
import logging
import secrets
from pathlib import Path
from typing import AsyncIterator

from app import release_free_memory
from app.settings import Settings
from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore
from history import migrate
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from memory.ports import LLM, Embedder, GraphStore
from memory.providers.local_embedder import OnnxEmbedder, SentenceTransformerEmbedder
from memory.providers.openai_compat import OpenAIChatLLM, OpenAIEmbedder
from memory.service import MemoryService, ServiceOptions
from vector.hnsw import HnswIndex

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder:
    cfg = settings.embedder
    if cfg.provider == "openai":
        if not cfg.base_url:
            raise ValueError("embedder.base_url is required when embedder.provider is 'openai'")
        key = cfg.api_key.get_secret_value() if cfg.api_key else None
        return OpenAIEmbedder(cfg.base_url, cfg.model, key, dimension=cfg.dimension)
    if cfg.provider == "sentence-transformers":
        return SentenceTransformerEmbedder(threads=cfg.threads, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms)
    return OnnxEmbedder(
        cache_dir=cfg.resolved_cache_dir(), threads=cfg.threads, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms
    )


def build_llm(settings: Settings) -> LLM | None:
    cfg = settings.llm
    if not cfg.base_url:
        return None
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    return OpenAIChatLLM(cfg.base_url, cfg.model, key, timeout=cfg.timeout_s)


def _graph_password(directory: Path) -> str:
    """The embedded server's root password, created once and kept beside its data."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".root-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


@contextlib.asynccontextmanager
async def graph_context(settings: Settings) -> AsyncIterator[GraphStore | None]:
    cfg = settings.graph
    if not cfg.enabled:
        yield None
        return
    server: EmbeddedArcadeDB | None = None
    if cfg.uri is None:
        directory = settings.data_dir / "graph"
        server = EmbeddedArcadeDB(
            directory, database=cfg.database, password=_graph_password(directory),
            heap=f"-Xmx{cfg.embedded_heap_mb}m", start_timeout_s=cfg.embedded_start_timeout_s,
        )
        await server.start()
        uri, auth, database = server.uri, server.auth, server.database
    else:
        password = cfg.password.get_secret_value() if cfg.password else ""
        uri, auth, database = cfg.uri, (cfg.user, password), cfg.database
    store = Neo4jGraphStore(uri, auth, database)
    try:
        try:
            await store.setup()
        except Exception as exc:  # the outbox keeps graph work until the store answers
            log.warning("graph store not ready at start (%s); graph writes will queue in the outbox", exc)
        yield store
    finally:
        await store.close()
        if server is not None:
            await server.stop()


@contextlib.asynccontextmanager
async def service_context(settings: Settings) -> AsyncIterator[MemoryService]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.sql_url()
    await migrate.ensure_not_ahead(url)
    await migrate.upgrade(url)
    engine = create_engine(url)
    repo = SqlMemoryRepository(engine)
    embedder = build_embedder(settings)
    llm = build_llm(settings)
    try:
        index = HnswIndex(settings.data_dir / "index", dimension=settings.embedder.dimension)
        async with graph_context(settings) as graph:
            mem = settings.memory
            service = MemoryService(
                repo, index, embedder, graph=graph, llm=llm,
                options=ServiceOptions(
                    dedup_threshold=mem.dedup_threshold,
                    similar_memories=mem.similar_memories,
                    max_limit=mem.max_limit,
                    exclusive_relations=frozenset(mem.exclusive_relations),
                    graph_write_timeout_s=mem.graph_write_timeout_s,
                ),
                index_save_interval_s=mem.index_save_interval_s,
            )
            await service.start()
            release_free_memory()  # the index rebuild's transient pages
            try:
                yield service
            finally:
                await service.stop()
    finally:
        for closable in (embedder, llm):
            if closable is not None:
                with contextlib.suppress(Exception):
                    await closable.aclose()  # type: ignore[attr-defined]
        await repo.close()
