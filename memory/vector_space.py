"""Which embedding model a store's vectors come from, kept with the store.

Similarity is only meaningful between vectors of one model: a query embedded by another model of
the same dimension (another MiniLM export, the int8-weight variant of the same model, a remote
model) still gets scores, just wrong ones, and nothing in the results shows it. So the store
records the vector space of the embeddings it holds (`VectorSpaceStore`, in SQL beside them), and
a service whose embedder makes another space refuses to start on a store that holds memories,
instead of silently mixing the two. An empty store takes the configured space; a store from
before the record existed is taken to hold the configured one (what it was served with until then).

Two runtimes of one model (ONNX and sentence-transformers: equal to ~1e-7) are the same space; the
ONNX model with int8 weights (`embedder.quantized`) is another (cosine ~0.95 to the float one), and
its copy with fixed activation ranges (`embedder.static_ranges`: "int8-static") a third. Unless
configured, the weights follow the store (`recorded_weights`): a new store takes int8-static,
faster and smaller, and a store keeps the weights its memories were embedded with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from memory.errors import AgentMemError


@dataclass(frozen=True, slots=True)
class VectorSpace:
    model: str
    dimension: int
    weights: str = "float32"  # "int8", "int8-static": the model's int8-weight variants

    def __str__(self) -> str:
        return f"{self.model} ({self.dimension} dimensions, {self.weights} weights)"


class VectorSpaceStore(Protocol):
    async def stored_vector_space(self) -> VectorSpace | None:
        """The recorded space; None when none was ever recorded."""
        ...

    async def record_vector_space(self, space: VectorSpace) -> None:
        """Record `space` as the store's, replacing any earlier record."""
        ...

    async def holds_memories(self) -> bool:
        """Whether any memory (valid, invalidated or expired) is stored."""
        ...


class VectorSpaceMismatch(AgentMemError):
    """The store's memories were embedded in another vector space than the configured embedder's."""

    code = "CONFIGURATION_ERROR"

    def __init__(self, stored: VectorSpace, configured: VectorSpace) -> None:
        self.stored, self.configured = stored, configured
        super().__init__(
            f"this store's memories were embedded by {stored}, but the embedder is configured for {configured}: "
            "their vectors cannot be compared. Configure the embedder that wrote them, or move the memories "
            "to a store for the new one: `python -m app export` here, then `python -m app import` into the "
            "new store, which embeds their texts again")


async def recorded_weights(store: VectorSpaceStore) -> str | None:
    """The weights variant the store's memories were embedded with; None when it holds none (a new
    store takes whichever is configured). A store from before the record held float32 ones: the
    only variant served by default until then."""
    if not await store.holds_memories():
        return None
    stored = await store.stored_vector_space()
    return stored.weights if stored is not None else "float32"


async def settle_vector_space(store: VectorSpaceStore, configured: VectorSpace) -> None:
    """Record `configured` as the store's space, or raise VectorSpaceMismatch when the store holds
    memories of another one."""
    stored = await store.stored_vector_space()
    if stored == configured:
        return
    if stored is not None and await store.holds_memories():
        raise VectorSpaceMismatch(stored, configured)
    await store.record_vector_space(configured)
    recorded = await store.stored_vector_space()
    if recorded != configured and recorded is not None:  # another replica recorded its own at the same time
        raise VectorSpaceMismatch(recorded, configured)
