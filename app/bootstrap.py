"""The composition root: the only module that knows the concrete adapters.

`open_stores(settings)` opens the data stores in order (SQL with migrations, the vector index,
the graph — the embedded ArcadeDB server when no URI is configured) and closes them in reverse;
serving and the export/import commands both go through it. `service_context(settings)` adds the
embedder, the LLM and the reranker, and starts the service on those stores."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.process import heap_release, release_free_memory
from app.ops.migrations import prepare_database
from app.ops.runtime import Runtime
from app.secret_files import private_dir, secret_file
from app.settings import Settings
from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore
from history.credentials import SqlCredentialStore
from history.engine import create_engine
from history.exports import SqlExportStore
from history.project import SqlProjectSettingsStore
from history.vector_space import SqlVectorSpaceStore
from history.repository import SqlMemoryRepository
from history.webhooks import SqlWebhookStore
from memory.categories import DEFAULT_CATEGORIES, check_categories
from memory.observe import combine, watched
from memory.options import ExportOptions
from memory.ports import LLM, Embedder, Reranker, Vision
from memory.providers.local_embedder import OnnxEmbedder, SentenceTransformerEmbedder
from memory.ranking import FusionMethod, FusionWeights
from memory.service import MemoryService, ServiceOptions
from memory.vector_space import recorded_weights, settle_vector_space
from vector.hnsw import HnswIndex

log = logging.getLogger(__name__)

# The HTTP providers are imported by the builders below only when configured: httpx and what it
# pulls in cost ~5 MiB of RSS, which a deployment on the local model and no LLM need not carry.


def build_embedder(settings: Settings) -> Embedder:
    cfg = settings.embedder
    if cfg.provider == "openai":
        if not cfg.base_url:
            raise ValueError("embedder.base_url is required when embedder.provider is 'openai'")
        key = cfg.api_key.get_secret_value() if cfg.api_key else None
        from memory.providers.openai_compat import OpenAIEmbedder  # only when configured: see the note above

        return OpenAIEmbedder(cfg.base_url, cfg.model, key, dimension=cfg.dimension)
    release = heap_release(settings.process)  # freed heap goes back to the OS once the model idles (app/process.py)
    if cfg.provider == "sentence-transformers":
        return SentenceTransformerEmbedder(threads=cfg.threads, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms,
                                           on_idle=release)
    return OnnxEmbedder(
        cache_dir=cfg.resolved_cache_dir(), threads=cfg.threads, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms,
        on_idle=release, quantized=cfg.int8(), static_ranges=cfg.fixed_ranges(),
        isolated=cfg.isolated,
    )


def build_llm(settings: Settings) -> LLM | None:
    cfg = settings.llm
    if not cfg.base_url:
        return None
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    from memory.providers.openai_compat import OpenAIChatLLM  # only when configured: see the note above

    return OpenAIChatLLM(cfg.base_url, cfg.model, key, timeout=cfg.timeout_s)


def build_vision(settings: Settings) -> Vision | None:
    cfg = settings.vision
    if not cfg.base_url:
        return None
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    from memory.providers.openai_compat import OpenAIVision  # only when configured: see the note above

    return OpenAIVision(cfg.base_url, cfg.model, key, timeout=cfg.timeout_s, max_tokens=cfg.max_tokens)


def build_reranker(settings: Settings) -> Reranker | None:
    cfg = settings.reranker
    if not cfg.base_url:
        return None
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    from memory.providers.http_reranker import HttpReranker  # only when configured: see the note above

    return HttpReranker(cfg.base_url, cfg.model, key, api=cfg.api, timeout=cfg.timeout_s)


def _graph_password(directory: Path) -> str:
    """The embedded server's root password, created once and kept beside its data."""
    return secret_file(directory / ".root-password", 18)


@contextlib.asynccontextmanager
async def graph_context(settings: Settings) -> AsyncIterator[tuple[Neo4jGraphStore, asyncio.Task[None]] | None]:
    """The graph store, and the task that brings it up: the embedded server is launched at once
    and answers a few seconds later (its JVM's start), which the caller may spend on other
    start-up work before awaiting the task. The task fails when the embedded server never answers."""
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
            class_archives=settings.embedder.resolved_cache_dir() / "jvm" if cfg.embedded_class_archives else None,
        )
        server.launch()
        uri, auth, database = server.uri, server.auth, server.database
    else:
        password = cfg.password.get_secret_value() if cfg.password else ""
        uri, auth, database = cfg.uri, (cfg.user, password), cfg.database
    store = Neo4jGraphStore(uri, auth, database)
    up = asyncio.create_task(_graph_up(server, store), name="graph-start")
    try:
        yield store, up
    finally:
        up.cancel()  # a server still starting is stopped by it; a failure was the caller's to await
        await asyncio.gather(up, return_exceptions=True)
        await store.close()
        if server is not None:
            await server.stop()


async def _graph_up(server: EmbeddedArcadeDB | None, store: Neo4jGraphStore) -> None:
    if server is not None:
        await server.until_ready()
    try:
        await store.setup()
    except Exception as exc:  # the outbox keeps graph work until the store answers
        log.warning("graph store not ready at start (%s); graph writes will queue in the outbox", exc)


@dataclass(frozen=True)
class Stores:
    """The data stores, open: what serving wraps into the service, and what export/import read
    and write directly. The index is not loaded yet (the service, or an import's replay, does)."""

    settings: Settings  # as given, with the embedder's weights settled (settle_embedder)
    engine: AsyncEngine
    repo: SqlMemoryRepository
    index: HnswIndex
    graph: Neo4jGraphStore | None  # None when graph.enabled is false
    graph_up: asyncio.Task[None] | None = None  # done once the graph answers (open_stores' graph_meanwhile)


StepHook = Callable[[str, str], None]  # (start-up step, its state): see app/ops/runtime.py


def _no_steps(step: str, state: str) -> None:
    return None


async def settle_embedder(engine: AsyncEngine, settings: Settings) -> Settings:
    """`settings` with the embedder's weights decided, recorded as the store's vector space: as
    configured, or, with `embedder.quantized` (`static_ranges`) unset, int8 (with fixed ranges)
    for a store without memories and the weights its memories were embedded with otherwise.
    Raises VectorSpaceMismatch when the store holds memories of another space."""
    store = SqlVectorSpaceStore(engine)
    cfg = settings.embedder
    # what is not configured follows the store (static_ranges matters only for the int8 model)
    following = cfg.provider == "onnx" and (cfg.quantized is None or (cfg.quantized and cfg.static_ranges is None))
    if following:
        weights = await recorded_weights(store)
        update = {"quantized": weights != "float32"} if cfg.quantized is None else {}
        if cfg.static_ranges is None:  # a new store's int8 model has them; the earlier int8 memories' had not
            update["static_ranges"] = weights != "int8"
        cfg = cfg.model_copy(update=update)
        settings = settings.model_copy(update={"embedder": cfg})
    await settle_vector_space(store, cfg.vector_space())
    log.info("embeddings: %s%s", cfg.vector_space(), " (weights not configured: the store's)" if following else "")
    return settings


@contextlib.asynccontextmanager
async def open_stores(settings: Settings, on_step: StepHook = _no_steps, *,
                      graph_meanwhile: bool = False) -> AsyncIterator[Stores]:
    """The one place that opens SQL (after the schema check or migrations), the vector index and
    the graph (the embedded ArcadeDB server when no URI is configured); closes them in reverse.
    `on_step` hears "migrations" once SQL is ready, then "graph" ("done" or "disabled") once the
    graph answers. `graph_meanwhile`: yield before that, with `Stores.graph_up` to await (serve
    loads its index while the embedded server's JVM starts)."""
    private_dir(settings.data_dir)
    await prepare_database(settings)  # refuses a database ahead of the code, or behind it without auto_migrate
    on_step("migrations", "done")
    engine = create_engine(settings.sql_url())
    try:  # refuses memories embedded by another model than the configured one
        settings = await settle_embedder(engine, settings)
    except BaseException:
        await engine.dispose()
        raise
    repo = SqlMemoryRepository(engine, record_cache=settings.memory.record_cache)
    index = HnswIndex(settings.data_dir / "index", dimension=settings.embedder.dimension)
    try:
        async with graph_context(settings) as started:
            graph, up = started if started is not None else (None, None)
            if up is None:
                on_step("graph", "disabled")
            else:
                def answered(task: asyncio.Task[None]) -> None:
                    if not task.cancelled() and task.exception() is None:
                        on_step("graph", "done")

                up.add_done_callback(answered)
                if not graph_meanwhile:
                    await up
            yield Stores(settings, engine, repo, index, graph, up)
    finally:
        await index.close()  # its background copy of a loaded snapshot, if still running
        await repo.close()


def service_options(settings: Settings) -> ServiceOptions:
    mem = settings.memory
    return ServiceOptions(
        dedup_threshold=mem.dedup_threshold,
        similar_memories=mem.similar_memories,
        max_limit=mem.max_limit,
        exclusive_relations=frozenset(mem.exclusive_relations),
        graph_write_timeout_s=mem.graph_write_timeout_s,
        sync_interval_s=mem.sync_interval_s,
        fusion=FusionWeights(method=FusionMethod(mem.fusion), k=mem.fusion_k, vector=mem.vector_weight,
                             lexical=mem.lexical_weight, graph=mem.graph_weight, min_candidates=mem.search_candidates),
        rerank_candidates=settings.reranker.candidates,
        filter_scan_budget=mem.filter_scan_budget,
        exports=ExportOptions(max_memories=settings.exports.max_memories, retention_s=settings.exports.retention_s,
                              stale_after_s=settings.exports.stale_after_s),
        image_max_bytes=settings.vision.max_image_bytes,
        image_media_types=frozenset(t.lower() for t in settings.vision.media_types),
        categories=check_categories(mem.categories, "memory.categories") if mem.categories else DEFAULT_CATEGORIES,
        category_threshold=mem.category_threshold,
        max_categories=mem.max_categories,
        project_settings_ttl_s=mem.project_settings_ttl_s,
        expiry_action=mem.expiry_action,
        expiry_sweep_s=mem.expiry_sweep_s,
        text_index=mem.text_index,
    )


@contextlib.asynccontextmanager
async def service_context(settings: Settings, runtime: Runtime | None = None) -> AsyncIterator[MemoryService]:
    """`runtime` (when given) records each component and start-up step as it comes up, for
    health checks; its metrics and tracing, when set, watch every store call and core operation."""
    runtime = runtime if runtime is not None else Runtime()
    sink = runtime.metrics
    observer = combine(sink, runtime.tracing.observer if runtime.tracing is not None else None)
    llm = runtime.llm = watched(build_llm(settings), "llm", observer)
    reranker = watched(build_reranker(settings), "reranker", observer)
    vision = watched(build_vision(settings), "vision", observer)
    embedder: Embedder | None = None
    warming: asyncio.Task[None] | None = None
    try:
        async with open_stores(settings, runtime.done, graph_meanwhile=True) as stores:
            # built once the store has settled its weights; the model loads on its own thread while
            # the graph server starts and the index loads
            embedder = runtime.embedder = watched(build_embedder(stores.settings), "embedder", observer)
            if sink is not None:
                embedder.observe_batches(sink.embedding_call)
            warming = asyncio.create_task(embedder.warmup(), name="embedder-warmup")
            repo = runtime.repo = watched(stores.repo, "sql", observer)
            index = runtime.index = watched(stores.index, "vector", observer)
            graph = runtime.graph = watched(stores.graph, "graph", observer) if stores.graph is not None else None
            service = MemoryService(repo, index, embedder, graph=graph, llm=llm, options=service_options(settings),
                                    reranker=reranker, index_save_interval_s=settings.memory.index_save_interval_s,
                                    observer=observer, vision=vision, exports=SqlExportStore(stores.engine),
                                    project=SqlProjectSettingsStore(stores.engine))
            # the vector index loads while the embedded graph server starts
            await service.start(graph_up=stores.graph_up)
            try:  # from here on its background tasks run: stopped whatever stops the start
                runtime.done("vector_index")
                await warming  # a model that cannot load stops the start, with its own error
                runtime.done("embedder")
                if stores.graph_up is not None:
                    await stores.graph_up  # an embedded server that never answers stops the start
                runtime.service = service
                release_free_memory()  # the index rebuild's transient pages
                yield service
            finally:
                runtime.service = None
                await service.stop()
    finally:
        if warming is not None:
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)  # raised above already, or moot
        for closable in (embedder, llm, reranker, vision):
            if closable is not None:
                with contextlib.suppress(Exception):
                    await closable.aclose()  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def credentials_context(settings: Settings) -> AsyncIterator[SqlCredentialStore]:
    """API keys and refresh tokens, in the same database as the memories (its own small engine:
    credentials are read on every request and must not queue behind memory writes' pool)."""
    store = SqlCredentialStore(create_engine(settings.sql_url(), pool_size=5, max_overflow=5))
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def webhook_store_context(settings: Settings) -> AsyncIterator[SqlWebhookStore]:
    """Webhooks and their delivery outbox, in the same database as the memories (a small engine
    of its own, as credentials: deliveries must not queue behind memory writes' pool)."""
    store = SqlWebhookStore(create_engine(settings.sql_url(), pool_size=5, max_overflow=5))
    try:
        yield store
    finally:
        await store.close()
