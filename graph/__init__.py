"""Neo4j/Bolt graph adapter: the store, its Cypher, error translation, and an embedded server."""

from graph.embedded import EmbeddedArcadeDB
from graph.store import Neo4jGraphStore

__all__ = ["EmbeddedArcadeDB", "Neo4jGraphStore"]
