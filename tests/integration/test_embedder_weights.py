"""The local model's weights when `embedder.quantized` (`static_ranges`) is unset: a new store takes
int8 with fixed activation ranges, and a store keeps the weights its memories were embedded with (bootstrap.settle_embedder, on SQLite and
PostgreSQL, and through the service with the real model)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.bootstrap import service_context, settle_embedder
from app.settings import GraphSettings, Settings
from history.engine import create_engine
from history.repository import SqlMemoryRepository
from history.vector_space import SqlVectorSpaceStore
from memory.models import MemoryRecord, Message, Scope, StoredMemory, new_id, text_hash, utcnow
from memory.ports import ChangeSet
from memory.providers.local_embedder import OnnxEmbedder
from memory.ranking import SearchMode
from memory.vector_space import VectorSpace, VectorSpaceMismatch

ALICE = Scope(user_id="alice")


def weights(settings: Settings, quantized: bool | None, static_ranges: bool | None = None) -> Settings:
    update = {"quantized": quantized, "static_ranges": static_ranges}
    return settings.model_copy(update={"embedder": settings.embedder.model_copy(update=update)})


def memory(text: str) -> ChangeSet:
    now = utcnow()
    rec = MemoryRecord(new_id(), text, text_hash(text), ALICE, {}, now, now)
    return ChangeSet(writes=[StoredMemory(rec, np.ones(384, dtype=np.float32) / np.sqrt(384))])


async def test_unset_weights_are_int8_for_a_new_store_and_the_memories_own_after(sql_url: str, tmp_path: Path) -> None:
    engine = create_engine(sql_url)
    repo = SqlMemoryRepository(create_engine(sql_url))
    spaces = SqlVectorSpaceStore(engine)
    unset = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))
    try:
        settled = (await settle_embedder(engine, unset)).embedder
        assert settled.quantized is True and settled.static_ranges is True
        assert await spaces.stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384, "int8-static")
        # still empty: configured float32 weights are taken, and then its memories hold the store to them
        assert (await settle_embedder(engine, weights(unset, False))).embedder.quantized is False
        await repo.commit(memory("the blue door"))
        assert (await settle_embedder(engine, unset)).embedder.quantized is False
        assert await spaces.stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384, "float32")
    finally:
        await repo.close()
        await engine.dispose()


async def test_a_store_of_the_earlier_int8_memories_keeps_their_model_unless_told_otherwise(
        sql_url: str, tmp_path: Path) -> None:
    engine = create_engine(sql_url)
    repo = SqlMemoryRepository(create_engine(sql_url))
    spaces = SqlVectorSpaceStore(engine)
    unset = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))
    try:
        # a new store configured for the int8 model without fixed ranges, as every int8 store was
        settled = (await settle_embedder(engine, weights(unset, True, False))).embedder
        assert (settled.quantized, settled.static_ranges) == (True, False)
        await repo.commit(memory("the blue door"))
        for configured in (unset, weights(unset, True), weights(unset, None, False)):
            settled = (await settle_embedder(engine, configured)).embedder
            assert (settled.quantized, settled.static_ranges) == (True, False)
        assert await spaces.stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384, "int8")
        with pytest.raises(VectorSpaceMismatch):  # its vectors are not the fixed-range model's
            await settle_embedder(engine, weights(unset, True, True))
    finally:
        await repo.close()
        await engine.dispose()


async def test_a_store_of_float32_memories_is_still_searched_with_the_float32_model(tmp_path: Path) -> None:
    unset = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))
    async with service_context(weights(unset, False)) as service:  # a deployment from before int8 was the default
        await service.add([Message("user", "Remember the blue door")], ALICE, infer=False)
    async with service_context(unset) as service:
        hit = (await service.search("Remember the blue door", ALICE, limit=1, mode=SearchMode.VECTOR)).hits[0]
    # the same model embeds the query as the memory (~1.0); the int8 one would give ~0.97
    assert hit.record.text == "Remember the blue door" and hit.score > 0.999


async def test_a_new_store_embeds_with_the_fixed_range_int8_model_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph=GraphSettings(enabled=False))
    async with service_context(settings) as service:
        added = await service.add([Message("user", "Remember the blue door")], ALICE, infer=False)
        await service.add([Message("user", "I like jazz")], ALICE, infer=False)
    async with service_context(settings) as service:  # reopened holding its memories: the same model
        hit = (await service.search("Remember the blue door", ALICE, limit=1, mode=SearchMode.VECTOR)).hits[0]
    assert hit.record.text == "Remember the blue door" and hit.score > 0.999
    engine = create_engine(settings.sql_url())
    repo = SqlMemoryRepository(engine)
    try:
        assert await SqlVectorSpaceStore(engine).stored_vector_space() == VectorSpace("all-MiniLM-L6-v2", 384,
                                                                                      "int8-static")
        _, stored = await repo.get_many_with_embeddings([added.results[0].id])
    finally:
        await repo.close()
        await engine.dispose()
    # the vector stored is the fixed-range model's (the dynamic one's is at cosine ~0.95-0.99 to it)
    fixed = OnnxEmbedder(cache_dir=settings.embedder.resolved_cache_dir(), quantized=True, static_ranges=True)
    dynamic = OnnxEmbedder(cache_dir=settings.embedder.resolved_cache_dir(), quantized=True)
    try:
        vector = stored[added.results[0].id]
        assert float(vector @ (await fixed.embed(["Remember the blue door"]))[0]) > 0.99999
        assert float(vector @ (await dynamic.embed(["Remember the blue door"]))[0]) < 0.9999
    finally:
        await fixed.aclose()
        await dynamic.aclose()
