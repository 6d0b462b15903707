"""settle_vector_space: a store takes the configured embedder's vector space unless it holds
memories of another one."""
from __future__ import annotations

import pytest

from app.settings import EmbedderSettings
from memory.vector_space import VectorSpace, VectorSpaceMismatch, recorded_weights, settle_vector_space

FLOAT = VectorSpace("all-MiniLM-L6-v2", 384)
INT8 = VectorSpace("all-MiniLM-L6-v2", 384, "int8")
STATIC = VectorSpace("all-MiniLM-L6-v2", 384, "int8-static")


class Store:
    def __init__(self, space: VectorSpace | None = None, memories: bool = False, rival: VectorSpace | None = None) -> None:
        self.space, self.memories, self.rival = space, memories, rival

    async def stored_vector_space(self) -> VectorSpace | None:
        return self.space

    async def record_vector_space(self, space: VectorSpace) -> None:
        self.space = self.rival or space  # rival: another replica's record won the race

    async def holds_memories(self) -> bool:
        return self.memories


@pytest.mark.parametrize("memories", [False, True], ids=["new store", "store from before the record"])
async def test_a_store_without_a_record_takes_the_configured_space(memories: bool) -> None:
    store = Store(memories=memories)
    await settle_vector_space(store, INT8)
    assert store.space == INT8


async def test_memories_of_another_space_are_refused_and_the_record_kept() -> None:
    store = Store(FLOAT, memories=True)
    with pytest.raises(VectorSpaceMismatch) as refused:
        await settle_vector_space(store, INT8)
    assert (refused.value.stored, refused.value.configured, store.space) == (FLOAT, INT8, FLOAT)
    assert "python -m app export" in str(refused.value) and refused.value.code == "CONFIGURATION_ERROR"
    await settle_vector_space(store, FLOAT)  # the space that wrote them still opens it


async def test_an_emptied_store_takes_a_new_space() -> None:
    store = Store(FLOAT, memories=False)
    await settle_vector_space(store, INT8)
    assert store.space == INT8


async def test_a_record_another_replica_made_meanwhile_is_not_overridden() -> None:
    store = Store(rival=FLOAT)
    with pytest.raises(VectorSpaceMismatch):
        await settle_vector_space(store, INT8)
    assert store.space == FLOAT


@pytest.mark.parametrize(("store", "weights"), [
    (Store(), None),
    (Store(FLOAT), None),
    (Store(INT8, memories=True), "int8"),
    (Store(FLOAT, memories=True), "float32"),
    (Store(memories=True), "float32"),
], ids=["new store", "emptied store", "int8 memories", "float32 memories", "memories from before the record"])
async def test_the_recorded_weights_are_those_of_the_memories_held(store: Store, weights: str | None) -> None:
    assert await recorded_weights(store) == weights


def test_the_space_names_model_dimension_and_weights() -> None:
    assert str(INT8) == "all-MiniLM-L6-v2 (384 dimensions, int8 weights)"


def test_the_configured_space_names_the_model_that_runs() -> None:
    # the local runtimes always run the bundled model, whatever `model` (the remote model's name) says
    local = EmbedderSettings(model="text-embedding-3-small", quantized=False)
    assert local.vector_space() == FLOAT
    assert EmbedderSettings().vector_space() == STATIC  # unsettled: what a new store takes
    assert EmbedderSettings(provider="sentence-transformers").vector_space() == FLOAT
    assert EmbedderSettings(quantized=True).vector_space() == STATIC
    assert EmbedderSettings(quantized=True, static_ranges=False).vector_space() == INT8
    assert EmbedderSettings(quantized=False, static_ranges=True).vector_space() == FLOAT  # int8 only
    assert EmbedderSettings(provider="sentence-transformers", quantized=True).vector_space() == FLOAT  # onnx only
    remote = EmbedderSettings(provider="openai", base_url="http://localhost:1/v1", model="text-embedding-3-small",
                              dimension=1536, quantized=True)
    assert remote.vector_space() == VectorSpace("text-embedding-3-small", 1536)
